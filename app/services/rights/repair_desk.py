"""Registrars decide credit repair applications (`registry:repair:read|decide`).

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a staff session with password, TOTP and card and the registrar role is allowed; every
  attempt — listed, evidence read, approved, refused, turned away or failed — writes exactly
  one query-log entry naming the application's subject by blind index, never a text or a file;
- a registrar never decides an application about themselves or anyone they declared a
  relation to (`staff_relations`, ARCHITECTURE §10): 403 `own_application` /
  `related_subject`, logged, nothing changed; reading the list and the evidence is allowed;
- an application is decided once, while open (409 `not_open` otherwise): `approved` ends the
  record's display on `hidden_from` = max(approval day, decision day + the type's minimum
  display period) (`policies.repair`), through the catalog's own retention rule (never later
  than the record would have stopped anyway), in the unit that logs the decision: from that
  day on the record is shown nowhere (own report, archive, institutions, public lists);
  `refused` needs a reason (400 otherwise). A reason is stored sealed. An approval whose
  record was withdrawn meanwhile answers 409 `record_gone`;
- repair never moves a record's expiry (the rules are checked for it at start-up; a record
  whose expiry would move is a bug and fails the attempt, logged, nothing changed);
- the open list is ordered by filing, oldest first, and shows what the subject wrote.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, Record, RepairApplication, RepairEvidence, StaffRelation, Subject
from app.services.outcomes import (
    Answer,
    Answered,
    Attachment,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, run_logged
from app.services.rights.common import (
    BadText,
    checked_text,
    current_version,
    parse_id,
    seal_for_record,
)
from app.services.rights.repair import RepairParts, application_view, conflict
from policies.actions import Action
from policies.decision import Target
from policies.retention import destroy_after, display_until

DECIDE_HINT = 'Send {"reason": "<why>"} (required to refuse, optional to approve).'
_ONE_DAY = timedelta(days=1)
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


class RepairDesk:
    """The registrar's side of credit repair."""

    def __init__(self, parts: RepairParts) -> None:
        self.parts = parts

    def listing(self, asker: Asker, *, include_decided: bool = False) -> Answer:
        return run_logged(
            self.parts,
            Action.REGISTRY_REPAIR_READ,
            asker,
            lambda q: self._list(q, include_decided),
        )

    def evidence(self, asker: Asker, application_id: str, position: int) -> Answer:
        return run_logged(
            self.parts,
            Action.REGISTRY_REPAIR_READ,
            asker,
            lambda q: self._evidence(q, parse_id(application_id), position),
        )

    def decide(self, asker: Asker, application_id: str, verdict: str, body: Body) -> Answer:
        """`verdict` is `approved` or `refused`."""
        return run_logged(
            self.parts,
            Action.REGISTRY_REPAIR_DECIDE,
            asker,
            lambda q: self._decide(q, parse_id(application_id), verdict, body),
        )

    def _list(self, q: LoggedQuery, include_decided: bool) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            query = select(RepairApplication)
            if not include_decided:
                query = query.where(RepairApplication.status == "open")
            rows = db.scalars(
                query.order_by(
                    (RepairApplication.status == "open").desc(), RepairApplication.filed_at
                )
            ).all()
            views = [application_view(self.parts, db, row) for row in rows]
            q.allow(db)
        return Answered({"applications": views, "as_of": q.on.isoformat()})

    def _found(
        self, q: LoggedQuery, db: Session, application_id: uuid.UUID | None
    ) -> RepairApplication | Refused:
        decision = q.decide(Target())
        if not decision.allowed:
            q.deny(db)
            return refusal_for(decision)
        row = None if application_id is None else db.get(RepairApplication, application_id)
        if row is None:
            q.deny(db, "no_such_application")
            return not_found()
        q.subject_bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == row.subject_id))
        return row

    def _evidence(self, q: LoggedQuery, application_id: uuid.UUID | None, position: int) -> Answer:
        with q.unit() as db:
            row = self._found(q, db, application_id)
            if isinstance(row, Refused):
                return row
            evidence = db.scalars(
                select(RepairEvidence).where(
                    RepairEvidence.application_id == row.id, RepairEvidence.position == position
                )
            ).one_or_none()
            if evidence is None:
                q.deny(db, "no_such_evidence")
                return not_found()
            content = self.parts.cipher.open(evidence.field_context("content"), evidence.content)
            q.allow(db, reason="repair_evidence_read")
        name = f"evidence-{row.id}-{position}.{EXTENSIONS.get(evidence.media_type, 'bin')}"
        document = {"application_id": str(row.id), "position": position}
        return Answered(document, attachment=Attachment(content, evidence.media_type, name))

    def _conflict_of_interest(self, q: LoggedQuery, db: Session, row: RepairApplication) -> str:
        """`own_application`, `related_subject`, or '' when the registrar may decide."""
        own = db.scalar(select(Account.subject_id).where(Account.id == q.asker.account_id))
        if own is not None and own == row.subject_id:
            return "own_application"
        related = db.scalar(
            select(StaffRelation.relation).where(
                StaffRelation.account_id == q.asker.account_id,
                StaffRelation.subject_bidx == q.subject_bidx,
            )
        )
        if related == "self":
            return "own_application"
        return "" if related is None else "related_subject"

    def _decide(
        self, q: LoggedQuery, application_id: uuid.UUID | None, verdict: str, body: Body
    ) -> Answer:
        with q.unit() as db:
            row = self._found(q, db, application_id)
            if isinstance(row, Refused):
                return row
            conflicted = self._conflict_of_interest(q, db, row)
            if conflicted:
                q.deny(db, conflicted)
                return Refused(
                    RefusalKind.FORBIDDEN,
                    conflicted,
                    "You may not decide an application about yourself or someone of your "
                    "household; another registrar must.",
                )
            reason = self._reason(body, required=verdict == "refused")
            if isinstance(reason, Refused):
                q.deny(db, "bad_request")
                return reason
            if row.status != "open":
                q.deny(db, "not_open")
                return conflict("not_open", "This application is decided already.")
            record = current_version(db, row.provider_id, row.provider_record_id)
            if record is None:
                q.deny(db, "record_gone")
                return conflict(
                    "record_gone", "The record was withdrawn: it is shown nowhere already."
                )
            if verdict == "approved":
                row.hidden_from = self._end_display(record, q)
            if reason is not None:
                key_id = seal_for_record(self.parts, db, row, "reason", reason, record)
                if key_id != row.data_key_id:
                    row.explanation = self.parts.cipher.rewrap(
                        row.field_context("explanation"), row.explanation, key_id
                    )
                    row.data_key_id = key_id
            row.status, row.decided_at, row.decided_by = verdict, q.at, q.asker.account_id
            db.flush()
            view = application_view(self.parts, db, row)
            q.allow(db, reason=f"repair_{verdict}")
        return Answered({"application": view})

    def _end_display(self, record: Record, q: LoggedQuery) -> date | None:
        """Move the record's last shown day to the day before `hidden_from`; the day it stops
        being shown."""
        rule = self.parts.repair.rule_for(record.record_type)
        spec = self.parts.catalog.get(record.record_type)
        assert rule is not None
        assert spec is not None
        hidden = rule.hidden_from(approved_on=q.on, occurred_on=record.occurred_on)
        occurred, ended = record.occurred_on, record.ended_on
        last = display_until(
            spec.retention, occurred_on=occurred, ended_on=ended, repaired_on=hidden
        )
        kept = destroy_after(
            spec.retention, occurred_on=occurred, ended_on=ended, repaired_on=hidden
        )
        if kept != record.destroy_after:
            raise RuntimeError("credit repair would move a record's expiry epoch")
        if last is not None and (record.display_until is None or last < record.display_until):
            record.display_until = last
        return None if record.display_until is None else record.display_until + _ONE_DAY

    def _reason(self, body: Body, *, required: bool) -> str | Refused | None:
        if body.problem is not None:
            return body_refusal(body.problem, body.why)
        sent = body.value if body.value is not None else {}
        if not isinstance(sent, dict) or not set(sent) <= {"reason"}:
            return bad_input(DECIDE_HINT)
        if sent.get("reason") is None and not required:
            return None
        try:
            return checked_text(
                sent.get("reason"), name="reason", limit=self.parts.repair.reason_max
            )
        except BadText as bad:
            return bad_input(str(bad))
