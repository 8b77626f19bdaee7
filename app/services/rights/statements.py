"""A subject's statements on their records (个人声明, ARCHITECTURE §3):
`self:statement:create|read|withdraw`.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a subject logged in with password and card, about one of their own records, is
  allowed; every attempt writes exactly one query-log entry (the subject by blind index, never
  the text);
- a statement names the current version of one of the caller's records (anything else answers
  404 alike) and holds 1 to `text_max_chars` characters, stored sealed under the record's epoch
  key; a record holds one active statement (409 `statement_exists`: withdraw it first);
- from the unit that makes it, the statement is shown with the record wherever the record is
  shown (`app.services.rights.marks`); withdrawn, it is shown nowhere but in its maker's list;
- withdrawing names one of the caller's statements (404 otherwise); withdrawing one withdrawn
  already changes nothing and answers the same.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.models import Statement
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
from app.services.rights.marks import day_of
from policies.actions import Action
from policies.decision import Target

MAKE_HINT = 'Send {"record_id": "<id of one of your records>", "text": "<your statement>"}.'


def statement_exists() -> Refused:
    return Refused(
        RefusalKind.CONFLICT,
        "statement_exists",
        "This record has a statement of yours already; withdraw it first.",
    )


def statement_view(parts: RightsParts, row: Statement) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "record_id": str(row.record_id),
        **titles(parts.catalog, row.record_type),
        "text": row.unseal("text", parts.cipher),
        "made_on": day_of(row.made_at),
        "status": row.status,
        "withdrawn_on": day_of(row.withdrawn_at),
    }


class OwnStatements:
    def __init__(self, parts: RightsParts) -> None:
        self.parts = parts

    def make(self, asker: Asker, body: Body) -> Answer:
        return run_logged(
            self.parts, Action.SELF_STATEMENT_CREATE, asker, lambda q: self._make(q, body)
        )

    def listing(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.SELF_STATEMENT_READ, asker, self._list)

    def withdraw(self, asker: Asker, statement_id: str) -> Answer:
        return run_logged(
            self.parts,
            Action.SELF_STATEMENT_WITHDRAW,
            asker,
            lambda q: self._withdraw(q, parse_id(statement_id)),
        )

    def _make(self, q: LoggedQuery, body: Body) -> Answer:
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
                return bad_input(MAKE_HINT)
            record_id = parse_id(sent["record_id"])
            limit = self.parts.rights.statement_text_max
            try:
                text = checked_text(sent["text"], name="text", limit=limit)
            except BadText as bad:
                q.deny(db, "bad_text")
                return bad_input(str(bad))
            record = None if record_id is None else own_record(db, subject.id, record_id)
            if record is None:
                q.deny(db, "no_such_record")
                return not_found()
            held = db.scalar(
                select(Statement.id).where(
                    Statement.provider_id == record.provider_id,
                    Statement.provider_record_id == record.provider_record_id,
                    Statement.status == "active",
                )
            )
            if held is not None:
                q.deny(db, "statement_exists")
                return statement_exists()
            row = Statement(
                id=uuid7(),
                subject_id=subject.id,
                record_id=record.id,
                provider_id=record.provider_id,
                provider_record_id=record.provider_record_id,
                record_type=record.record_type,
                made_at=q.at,
                status="active",
            )
            row.data_key_id = seal_for_record(self.parts, db, row, "text", text, record)
            try:
                with db.begin_nested():  # rolled back alone, and `row` with it, on a clash
                    db.add(row)
                    db.flush()
            except IntegrityError:  # a concurrent statement on the same record won
                q.deny(db, "statement_exists")
                return statement_exists()
            subject.has_notes = True
            view = statement_view(self.parts, row)
            q.allow(db, reason="statement_made")
        return Answered({"statement": view}, created=True)

    def _list(self, q: LoggedQuery) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            rows = db.scalars(
                select(Statement)
                .where(Statement.subject_id == subject.id)
                .order_by(Statement.made_at.desc(), Statement.id.desc())
            ).all()
            views = [statement_view(self.parts, row) for row in rows]
            records = own_records(db, subject.id, self.parts.catalog)
            q.allow(db)
        return Answered({"statements": views, "records": records})

    def _withdraw(self, q: LoggedQuery, statement_id: uuid.UUID | None) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            row = None if statement_id is None else db.get(Statement, statement_id)
            if row is None or row.subject_id != subject.id:
                q.deny(db, "no_such_statement")
                return not_found()
            if row.status == "active":
                row.status = "withdrawn"
                row.withdrawn_at = q.at
                db.flush()
                reason = "statement_withdrawn"
            else:
                reason = "already_withdrawn"
            view = statement_view(self.parts, row)
            q.allow(db, reason=reason)
        return Answered({"statement": view})
