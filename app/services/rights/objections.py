"""A subject's objections to their records (异议, ARCHITECTURE §3): `self:objection:create`
and `self:objection:read`.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a subject logged in with password and card, about one of their own records, is
  allowed; every attempt — filed, refused or failed — writes exactly one query-log entry
  naming the subject by blind index, never the text;
- an objection names the current version of one of the caller's records (anything else,
  someone else's record included, answers 404 alike) and says what is wrong in 1 to
  `text_max_chars` characters, stored sealed under the record's epoch key; a record already
  under an open objection is refused (409 `objection_open`), also under a race (a partial
  unique index, checked in a savepoint);
- filing marks the record "under objection" in every answer from the unit that files it on
  (`app.services.rights.marks`), and sets the answer's due day from the rules as data
  (`policies/data/rights.toml`: 20 calendar days);
- the caller's own objections list shows what they wrote, the stage, the due day (and whether
  it is overdue), the outcome and the registrar's reason, newest first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Objection
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
from app.services.querylog.attempt import Asker, Body, LoggedQuery, run_logged
from app.services.rights.common import (
    BadText,
    RightsParts,
    checked_text,
    own_record,
    own_records,
    own_subject,
    parse_id,
    seal_for_record,
    titles,
)
from app.services.rights.marks import objection_mark
from policies.actions import Action
from policies.decision import Target

FILE_HINT = 'Send {"record_id": "<id of one of your records>", "text": "<what is wrong>"}.'


def objection_open() -> Refused:
    return Refused(
        RefusalKind.CONFLICT,
        "objection_open",
        "This record is under an open objection already; its answer is due first.",
    )


def objection_view(parts: RightsParts, row: Objection, *, with_text: bool) -> dict[str, Any]:
    """An objection as its subject (or a registrar, or the provider) sees it."""
    view: dict[str, Any] = {
        **objection_mark(
            objection_id=row.id,
            status=row.status,
            stage=row.stage,
            filed_at=row.filed_at,
            due_on=row.due_on,
            outcome=row.outcome,
            resolved_at=row.resolved_at,
            corrected_record_id=row.corrected_record_id,
            on=parts.clock.today(),
        ),
        "record_id": str(row.record_id),
        **titles(parts.catalog, row.record_type),
    }
    if with_text:
        view["text"] = row.unseal("text", parts.cipher)
        view["reason"] = None if row.reason is None else row.unseal("reason", parts.cipher)
    return view


class OwnObjections:
    def __init__(self, parts: RightsParts) -> None:
        self.parts = parts

    def file(self, asker: Asker, body: Body) -> Answer:
        return run_logged(
            self.parts, Action.SELF_OBJECTION_CREATE, asker, lambda q: self._file(q, body)
        )

    def listing(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.SELF_OBJECTION_READ, asker, self._list)

    def _file(self, q: LoggedQuery, body: Body) -> Answer:
        rules = self.parts.rights
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            if body.problem is not None:
                q.deny(db, body.problem)
                return body_refusal(body.problem, body.why)
            sent = body.value
            if not isinstance(sent, dict) or set(sent) != {"record_id", "text"}:
                q.deny(db, "bad_request")
                return bad_input(FILE_HINT)
            record_id = parse_id(sent["record_id"])
            try:
                text = checked_text(sent["text"], name="text", limit=rules.objection_text_max)
            except BadText as bad:
                q.deny(db, "bad_text")
                return bad_input(str(bad))
            record = None if record_id is None else own_record(db, subject.id, record_id)
            if record is None:
                q.deny(db, "no_such_record")
                return not_found()
            if self._open_on(db, record.provider_id, record.provider_record_id):
                q.deny(db, "objection_open")
                return objection_open()
            row = Objection(
                id=uuid7(),
                subject_id=subject.id,
                record_id=record.id,
                provider_id=record.provider_id,
                provider_record_id=record.provider_record_id,
                record_type=record.record_type,
                filed_at=q.at,
                stage="objection",
                stage_opened_on=q.on,
                due_on=rules.answer_due(q.on),
                status="open",
            )
            row.data_key_id = seal_for_record(self.parts, db, row, "text", text, record)
            try:
                with db.begin_nested():  # rolled back alone, and `row` with it, on a clash
                    db.add(row)
                    db.flush()
            except IntegrityError:  # a concurrent objection on the same record won
                q.deny(db, "objection_open")
                return objection_open()
            subject.has_notes = True
            view = objection_view(self.parts, row, with_text=True)
            q.allow(db, reason="objection_filed")
        return Answered({"objection": view}, created=True)

    def _list(self, q: LoggedQuery) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            rows = db.scalars(
                select(Objection)
                .where(Objection.subject_id == subject.id)
                .order_by(Objection.filed_at.desc(), Objection.id.desc())
            ).all()
            views = [objection_view(self.parts, row, with_text=True) for row in rows]
            records = own_records(db, subject.id, self.parts.catalog)
            q.allow(db)
        return Answered({"objections": views, "records": records, "as_of": q.on.isoformat()})

    @staticmethod
    def _open_on(db: Session, provider_id: Any, provider_record_id: str) -> bool:
        return (
            db.scalar(
                select(Objection.id).where(
                    Objection.provider_id == provider_id,
                    Objection.provider_record_id == provider_record_id,
                    Objection.status == "open",
                )
            )
            is not None
        )
