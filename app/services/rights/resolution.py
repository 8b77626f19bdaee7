"""Registrars answer objections (`registry:objection:read|resolve|escalate`).

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a staff session with password, TOTP and card and the registrar role is allowed; every
  attempt — listed, resolved, escalated, refused or failed — writes exactly one query-log entry
  naming the objection's subject by blind index, never a text;
- a registrar never answers an objection about themselves (their account's own subject): 403
  `own_objection`, logged, nothing changed;
- an objection is answered once per stage, while open (409 `not_open` otherwise), with one of:
  `corrected` — the provider corrected the record through intake (a newer current version of
  the same provider record exists; the answer names it: `corrected_record_id`), 409
  `not_corrected` while it has not; `deleted` — the record's current version is withdrawn now
  (history kept, out of the public-list index at once, and the subject graded again in the
  same unit, the answering registrar proposing any A or E that yields), or was withdrawn by
  its provider already; `upheld` — the record stands, and the reason (required) says why.
  The reason is stored sealed; the answer, the record's mark and the subject's list show the
  outcome at once;
- an upheld objection may go on to `reconsideration` (复核) and then to `court` (诉讼): each
  stage reopens it — the record is under objection again — with a new due day
  (reconsideration: the same rule as the objection; court: none, the court's own pace);
- the open list is ordered by due day, overdue first, and shows what the subject wrote.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Account, Objection, ObjectionAnswer, PublicListEntry, Record, Subject
from app.models.rights import OBJECTION_OUTCOMES, OBJECTION_STAGES
from app.services.grades.grading import Grader, Proposer
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
    current_version,
    parse_id,
    seal_for_record,
)
from app.services.rights.objections import objection_open, objection_view
from policies.actions import Action
from policies.decision import Target
from policies.scorecard import default_scorecard

RESOLVE_HINT = (
    'Send {"outcome": "corrected" | "deleted" | "upheld", "reason": "<why>"} '
    '(reason required for upheld; optional "corrected_record_id").'
)


def _conflict(error: str, message: str) -> Refused:
    return Refused(RefusalKind.CONFLICT, error, message)


class ObjectionDesk:
    """The registrar's side of objections."""

    def __init__(self, parts: RightsParts) -> None:
        self.parts = parts

    def listing(self, asker: Asker, *, include_resolved: bool = False) -> Answer:
        return run_logged(
            self.parts,
            Action.REGISTRY_OBJECTION_READ,
            asker,
            lambda q: self._list(q, include_resolved),
        )

    def resolve(self, asker: Asker, objection_id: str, body: Body) -> Answer:
        return run_logged(
            self.parts,
            Action.REGISTRY_OBJECTION_RESOLVE,
            asker,
            lambda q: self._resolve(q, parse_id(objection_id), body),
        )

    def escalate(self, asker: Asker, objection_id: str, body: Body) -> Answer:
        return run_logged(
            self.parts,
            Action.REGISTRY_OBJECTION_ESCALATE,
            asker,
            lambda q: self._escalate(q, parse_id(objection_id), body),
        )

    def _list(self, q: LoggedQuery, include_resolved: bool) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            query = select(Objection)
            if not include_resolved:
                query = query.where(Objection.status == "open")
            rows = db.scalars(
                query.order_by(
                    Objection.status.desc(),  # open first
                    Objection.due_on.is_(None),
                    Objection.due_on,
                    Objection.filed_at,
                )
            ).all()
            views = [objection_view(self.parts, row, with_text=True) for row in rows]
            q.allow(db)
        return Answered({"objections": views, "as_of": q.on.isoformat()})

    def _target(
        self, q: LoggedQuery, db: Session, objection_id: uuid.UUID | None
    ) -> Objection | Refused:
        """The open objection to act on, or the logged refusal."""
        decision = q.decide(Target())
        if not decision.allowed:
            q.deny(db)
            return refusal_for(decision)
        row = None if objection_id is None else db.get(Objection, objection_id)
        if row is None:
            q.deny(db, "no_such_objection")
            return not_found()
        q.subject_bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == row.subject_id))
        own = db.scalar(select(Account.subject_id).where(Account.id == q.asker.account_id))
        if own is not None and own == row.subject_id:
            q.deny(db, "own_objection")
            return Refused(
                RefusalKind.FORBIDDEN,
                "own_objection",
                "You may not answer an objection about yourself; another registrar must.",
            )
        return row

    def _resolve(self, q: LoggedQuery, objection_id: uuid.UUID | None, body: Body) -> Answer:
        with q.unit() as db:
            row = self._target(q, db, objection_id)
            if isinstance(row, Refused):
                return row
            asked = self._asked(body)
            if isinstance(asked, Refused):
                q.deny(db, "bad_request")
                return asked
            outcome, reason, named = asked
            if row.status != "open":
                q.deny(db, "not_open")
                return _conflict("not_open", "This objection is answered already.")
            current = current_version(db, row.provider_id, row.provider_record_id)
            if outcome == "corrected":
                objected = db.get(Record, row.record_id)
                newer = (
                    current is not None
                    and objected is not None
                    and current.version > objected.version
                    and (named is None or named == current.id)
                )
                if not newer or current is None:
                    q.deny(db, "not_corrected")
                    return _conflict(
                        "not_corrected",
                        "The provider has not corrected this record: a correction comes "
                        "through intake as a new version, then answer naming it.",
                    )
                row.corrected_record_id = current.id
            elif outcome == "deleted" and current is not None:
                current.status = "withdrawn"
                current.status_changed_at = q.at
                current.change_reason = "objection"
                db.execute(delete(PublicListEntry).where(PublicListEntry.record_id == current.id))
                db.flush()
                Grader(default_scorecard(self.parts.catalog), self.parts.cipher).regrade(
                    db,
                    [row.subject_id],
                    on=q.on,
                    now=q.at,
                    proposer=Proposer(q.asker.actor_ref, q.asker.account_id),
                )
            if reason is not None:
                self._seal_reason(db, row, reason, current or db.get(Record, row.record_id))
            row.status, row.outcome = "resolved", outcome
            row.resolved_at, row.resolved_by = q.at, q.asker.account_id
            db.add(
                ObjectionAnswer(
                    objection_id=row.id, stage=row.stage, outcome=outcome, answered_at=q.at
                )
            )
            db.flush()
            view = objection_view(self.parts, row, with_text=True)
            q.allow(db, reason=f"objection_{outcome}")
        return Answered({"objection": view})

    def _escalate(self, q: LoggedQuery, objection_id: uuid.UUID | None, body: Body) -> Answer:
        with q.unit() as db:
            row = self._target(q, db, objection_id)
            if isinstance(row, Refused):
                return row
            sent = body.value
            stage = sent.get("stage") if isinstance(sent, dict) and set(sent) == {"stage"} else None
            if body.problem is not None or stage not in OBJECTION_STAGES[1:]:
                q.deny(db, "bad_request")
                return bad_input('Send {"stage": "reconsideration" | "court"}.')
            order = OBJECTION_STAGES.index
            if (
                row.status != "resolved"
                or row.outcome != "upheld"
                or order(stage) <= order(row.stage)
            ):
                q.deny(db, "cannot_escalate")
                return _conflict(
                    "cannot_escalate",
                    "Only an upheld objection goes on, and only to a later stage.",
                )
            try:
                with db.begin_nested():  # rolled back alone on a clash
                    row.stage, row.stage_opened_on, row.status = stage, q.on, "open"
                    row.due_on = (
                        self.parts.rights.answer_due(q.on) if stage == "reconsideration" else None
                    )
                    row.outcome = row.reason = row.resolved_at = row.resolved_by = None
                    db.flush()
            except IntegrityError:  # the subject filed a new objection on it meanwhile
                q.deny(db, "objection_open")
                return objection_open()
            view = objection_view(self.parts, row, with_text=True)
            q.allow(db, reason=f"objection_to_{stage}")
        return Answered({"objection": view})

    def _seal_reason(self, db: Session, row: Objection, reason: str, basis: Record | None) -> None:
        """Seal the reason under the active key of the record's epoch, and the subject's text
        with it when that key is another (one data key per row: `keys.lifecycle`)."""
        assert basis is not None
        key_id = seal_for_record(self.parts, db, row, "reason", reason, basis)
        if key_id != row.data_key_id:
            row.text = self.parts.cipher.rewrap(
                Objection.context_for(row.id, "text"), row.text, key_id
            )
            row.data_key_id = key_id

    def _asked(self, body: Body) -> tuple[str, str | None, uuid.UUID | None] | Refused:
        if body.problem is not None:
            return body_refusal(body.problem, body.why)
        sent: Any = body.value
        if not isinstance(sent, dict) or not set(sent) <= {
            "outcome",
            "reason",
            "corrected_record_id",
        }:
            return bad_input(RESOLVE_HINT)
        outcome = sent.get("outcome")
        if outcome not in OBJECTION_OUTCOMES:
            return bad_input(RESOLVE_HINT)
        named = None
        if sent.get("corrected_record_id") is not None:
            named = parse_id(sent["corrected_record_id"])
            if named is None or outcome != "corrected":
                return bad_input("corrected_record_id names a record version, for corrected.")
        reason = None
        if sent.get("reason") is not None or outcome == "upheld":
            try:
                reason = checked_text(
                    sent.get("reason"), name="reason", limit=self.parts.rights.reason_max
                )
            except BadText as bad:
                return bad_input(str(bad))
        return str(outcome), reason, named
