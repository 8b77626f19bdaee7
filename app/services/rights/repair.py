"""A subject's credit repair applications (信用修复, ARCHITECTURE §3):
`self:repair:create|read`.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a subject logged in with password and card, about one of their own records, is
  allowed; every attempt writes exactly one query-log entry (the subject by blind index, never
  a text or a file);
- an application names the current version of one of the caller's records (anything else
  answers 404 alike), of a type `policies/data/repair.toml` lists (409 `not_eligible`
  otherwise), still shown (409 `not_displayed`), whose minimum display period has passed
  (409 `too_early`, naming the day it becomes eligible: `eligible_from`), with no open
  application on it (409 `repair_open`); it says what the subject did (1 to
  `explanation_max_chars` characters) and carries 1 to `max_files` evidence files, each
  judged by its bytes (`policies.repair.check_evidence`): a file over the size limit answers
  413 `evidence_too_large`, one of another type 400 `evidence_type`, one that is not what it
  was sent as 400 `evidence_mismatch`; a body over the route's limit 413. Each refusal is
  logged and changes nothing;
- the explanation and every file are stored sealed under the record's epoch key, in the unit
  that logs the attempt; the client's file names are not kept;
- the listing shows the caller's applications with their decisions, and which of their
  records may be repaired and from which day.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Record, RepairApplication, RepairEvidence
from app.models.ids import uuid7
from app.services.outcomes import (
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    refusal_for,
)
from app.services.querylog.attempt import Asker, LoggedQuery, run_logged
from app.services.rights.common import (
    BadText,
    RightsParts,
    checked_text,
    own_record,
    own_subject,
    parse_id,
    seal_for_record,
    titles,
)
from app.services.rights.marks import day_of
from policies.actions import Action
from policies.decision import Target
from policies.repair import BadEvidence, RepairRules, default_repair
from policies.unified_format import RecordLine

#: what a form around the files may add (fields, part headers, boundaries)
FORM_OVERHEAD = 64 * 1024


def upload_limit(rules: RepairRules | None = None) -> int:
    """The largest body an application may be: every file at its limit, and the form."""
    rules = rules or default_repair()
    return rules.max_files * (rules.max_file_bytes + 1024) + FORM_OVERHEAD


def keep_repairs(db: Connection, provider_id: uuid.UUID, lines: Sequence[Any]) -> list[Any]:
    """Intake's lines with every approved repair kept: a line that adds or corrects a record
    whose repair was approved shows it no later than the day before its `hidden_from`, so a
    provider re-sending or correcting a repaired record never brings it back."""
    ids = sorted({ln.record_id for ln in lines if isinstance(ln, RecordLine)})
    if not ids:
        return list(lines)
    rows = db.execute(
        select(RepairApplication.provider_record_id, RepairApplication.hidden_from).where(
            RepairApplication.provider_id == provider_id,
            RepairApplication.provider_record_id.in_(ids),
            RepairApplication.status == "approved",
            RepairApplication.hidden_from.is_not(None),
        )
    ).all()
    hidden = {ref: day for ref, day in rows if day is not None}
    kept = []
    for line in lines:
        day = hidden.get(line.record_id) if isinstance(line, RecordLine) else None
        if day is not None and (line.display_until is None or line.display_until >= day):
            line = replace(line, display_until=day - timedelta(days=1))
        kept.append(line)
    return kept


class RepairParts(RightsParts, Protocol):
    @property
    def repair(self) -> RepairRules: ...


@dataclass(frozen=True)
class EvidenceFile:
    """One uploaded file as the web layer read it: the type the client claimed (None if it
    claimed none) and at most `max_file_bytes` + 1 of its bytes."""

    claimed_type: str | None
    content: bytes


@dataclass(frozen=True)
class RepairForm:
    """An application as sent: the fields (unchecked) and the files, or why the request could
    not be read (`TOO_LARGE`)."""

    record_id: object = None
    explanation: object = None
    evidence: tuple[EvidenceFile, ...] = ()
    problem: str | None = None


def conflict(error: str, message: str, **details: str) -> Refused:
    return Refused(RefusalKind.CONFLICT, error, message, details)


def repair_open() -> Refused:
    return conflict(
        "repair_open", "This record has an open repair application already; wait for its decision."
    )


def evidence_views(db: Session, application_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.execute(
        select(RepairEvidence.position, RepairEvidence.media_type, RepairEvidence.size)
        .where(RepairEvidence.application_id == application_id)
        .order_by(RepairEvidence.position)
    ).all()
    return [{"position": p, "media_type": m, "size": s} for p, m, s in rows]


def application_view(parts: RightsParts, db: Session, row: RepairApplication) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "record_id": str(row.record_id),
        **titles(parts.catalog, row.record_type),
        "explanation": row.unseal("explanation", parts.cipher),
        "filed_on": day_of(row.filed_at),
        "status": row.status,
        "decided_on": day_of(row.decided_at),
        "reason": row.unseal("reason", parts.cipher),
        "hidden_from": None if row.hidden_from is None else row.hidden_from.isoformat(),
        "evidence": evidence_views(db, row.id),
    }


class OwnRepairs:
    def __init__(self, parts: RepairParts) -> None:
        self.parts = parts

    def apply(self, asker: Asker, form: RepairForm) -> Answer:
        return run_logged(
            self.parts, Action.SELF_REPAIR_CREATE, asker, lambda q: self._apply(q, form)
        )

    def listing(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.SELF_REPAIR_READ, asker, self._list)

    def _checked_form(self, form: RepairForm) -> tuple[str, list[tuple[str, bytes]]] | Refused:
        """The explanation and the files with their true types, or the refusal."""
        rules = self.parts.repair
        if form.problem is not None:
            return body_refusal(form.problem)
        try:
            explanation = checked_text(
                form.explanation, name="explanation", limit=rules.explanation_max
            )
        except BadText as bad:
            return bad_input(str(bad))
        if not 1 <= len(form.evidence) <= rules.max_files:
            return bad_input(f"Send 1 to {rules.max_files} evidence files.")
        files = []
        for position, sent in enumerate(form.evidence, start=1):
            try:
                media = rules.check_evidence(position, sent.claimed_type, sent.content)
            except BadEvidence as bad:
                kind = RefusalKind.TOO_LARGE if bad.code == "evidence_too_large" else None
                return Refused(kind or RefusalKind.BAD_INPUT, bad.code, str(bad))
            files.append((media, sent.content))
        return explanation, files

    def _eligibility(self, db: Session, record: Record, on: date) -> Refused | None:
        rule = self.parts.repair.rule_for(record.record_type)
        if rule is None:
            kinds = ", ".join(sorted(self.parts.repair.eligible))
            return conflict(
                "not_eligible", f"Only these kinds of record can be repaired here: {kinds}."
            )
        if record.display_until is not None and record.display_until < on:
            return conflict("not_displayed", "This record is no longer shown: nothing to end.")
        opens = rule.eligible_from(record.occurred_on)
        if on < opens:
            return conflict(
                "too_early",
                f"This record must be shown at least {rule.min_display_months} months from "
                f"its decision day: apply on or after {opens.isoformat()}.",
                eligible_from=opens.isoformat(),
            )
        held = db.scalar(
            select(RepairApplication.id).where(
                RepairApplication.provider_id == record.provider_id,
                RepairApplication.provider_record_id == record.provider_record_id,
                RepairApplication.status == "open",
            )
        )
        return repair_open() if held is not None else None

    def _apply(self, q: LoggedQuery, form: RepairForm) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            checked = self._checked_form(form)
            if isinstance(checked, Refused):
                q.deny(db, checked.error)
                return checked
            explanation, files = checked
            record_id = parse_id(form.record_id)
            record = None if record_id is None else own_record(db, subject.id, record_id)
            if record is None:
                q.deny(db, "no_such_record")
                return not_found()
            refused = self._eligibility(db, record, q.on)
            if refused is not None:
                q.deny(db, refused.error)
                return refused
            row = RepairApplication(
                id=uuid7(),
                subject_id=subject.id,
                record_id=record.id,
                provider_id=record.provider_id,
                provider_record_id=record.provider_record_id,
                record_type=record.record_type,
                filed_at=q.at,
                status="open",
            )
            key_id = seal_for_record(self.parts, db, row, "explanation", explanation, record)
            row.data_key_id = key_id
            try:
                with db.begin_nested():  # rolled back alone, and `row` with it, on a clash
                    db.add(row)
                    db.flush()
            except IntegrityError:  # a concurrent application on the same record won
                q.deny(db, "repair_open")
                return repair_open()
            for position, (media, content) in enumerate(files, start=1):
                evidence = RepairEvidence(
                    id=uuid7(),
                    application_id=row.id,
                    position=position,
                    media_type=media,
                    size=len(content),
                    data_key_id=key_id,
                )
                evidence.content = self.parts.cipher.seal(
                    evidence.field_context("content"), content, key_id
                )
                db.add(evidence)
            db.flush()
            view = application_view(self.parts, db, row)
            q.allow(db, reason="repair_filed")
        return Answered({"application": view}, created=True)

    def _list(self, q: LoggedQuery) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            rows = db.scalars(
                select(RepairApplication)
                .where(RepairApplication.subject_id == subject.id)
                .order_by(RepairApplication.filed_at.desc(), RepairApplication.id.desc())
            ).all()
            views = [application_view(self.parts, db, row) for row in rows]
            records = self._repairable(db, subject.id, q.on)
            q.allow(db)
        return Answered({"applications": views, "records": records, "as_of": q.on.isoformat()})

    def _repairable(self, db: Session, subject_id: uuid.UUID, on: date) -> list[dict[str, Any]]:
        """The caller's shown records of the eligible kinds, each with the day it becomes
        eligible (no contents: nothing sealed is opened)."""
        rules = self.parts.repair
        rows = db.execute(
            select(Record.id, Record.record_type, Record.occurred_on, Record.display_until)
            .where(
                Record.subject_id == subject_id,
                Record.status == "current",
                Record.record_type.in_(list(rules.eligible)),
            )
            .order_by(Record.occurred_on, Record.id)
        ).all()
        found = []
        for record_id, code, occurred_on, display_until in rows:
            if display_until is not None and display_until < on:
                continue
            opens = rules.eligible[code].eligible_from(occurred_on)
            found.append(
                {
                    "id": str(record_id),
                    **titles(self.parts.catalog, code),
                    "occurred_on": occurred_on.isoformat(),
                    "display_until": None if display_until is None else display_until.isoformat(),
                    "eligible_from": opens.isoformat(),
                    "eligible_now": opens <= on,
                }
            )
        return found
