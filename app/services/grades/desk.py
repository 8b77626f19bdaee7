"""Grades as use cases: a subject reads their own (`self:grade:read`); registrars list the A and
E proposals waiting for a second approval (`registry:grade:read`), approve or refuse one
(`registry:grade:approve`) and grade subjects again (`registry:grade:recompute`).

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- every attempt — answered, refused or failed — writes exactly one query-log entry naming the
  subject by blind index (none for a listing of many);
- a subject sees only their own grade (`app.services.grades.views`); a subject with no
  subject record reads as not found;
- an approval is decided once, while pending (409 `not_pending`), by a registrar who neither
  proposed it (403 `own_proposal`: the database refuses it too) nor is its subject (403
  `own_grade`); anything else, an unknown id included, is 404. Approving makes the grade count
  at once and asks the lists (`app.services.lists.review.ListReview.derive` for that subject)
  whether it lists or unlists the subject: what they propose waits for a compliance officer's
  confidentiality review like every list change; refusing leaves the previous grade counting;
- a recomputation grades the named subject (or, from the console, every subject, a keyset
  chunk per unit, so memory stays flat) with the recomputing registrar as the proposer of any
  A or E it yields.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, GradeApproval, Subject, SubjectGrade
from app.services.grades.grading import Grader, Proposer, RegradeCounts
from app.services.grades.views import approval_view, own_grade_view
from app.services.lists.review import list_review
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
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.rights.common import own_subject, parse_id
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.catalog import Catalog
from policies.decision import Target
from policies.scorecard import Scorecard, default_scorecard

DECIDE_HINT = 'Send {"decision": "approve" | "refuse"}.'
RECOMPUTE_HINT = 'Send {"subject_ref": "<the subject reference>"}.'
CHUNK_SUBJECTS = 500
TOTALS = ("graded", "changed", "counted", "proposed", "superseded")


class GradeParts(Parts, Protocol):
    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def key_provider(self) -> KeyProvider: ...


def _forbidden(error: str, message: str) -> Refused:
    return Refused(RefusalKind.FORBIDDEN, error, message)


class Grades:
    def __init__(self, parts: GradeParts) -> None:
        self.parts = parts

    @property
    def card(self) -> Scorecard:
        return default_scorecard(self.parts.catalog)

    def grader(self) -> Grader:
        return Grader(self.card, self.parts.cipher)

    # --- the subject ---------------------------------------------------------------------

    def own(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.SELF_GRADE_READ, asker, self._own)

    def _own(self, q: LoggedQuery) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            row = db.get(SubjectGrade, subject.id)
            awaiting = self._pending_of(db, subject.id) is not None
            view = own_grade_view(self.card, row, awaiting)
            q.allow(db)
        return Answered({"grade": view, "as_of": q.on.isoformat()})

    # --- registrars ------------------------------------------------------------------------

    def approvals(self, asker: Asker, *, include_decided: bool = False) -> Answer:
        def use_case(q: LoggedQuery) -> Answer:
            with q.unit() as db:
                decision = q.decide(Target())
                if not decision.allowed:
                    q.deny(db)
                    return refusal_for(decision)
                query = select(GradeApproval)
                if not include_decided:
                    query = query.where(GradeApproval.status == "pending")
                rows = db.scalars(
                    query.order_by(GradeApproval.proposed_at, GradeApproval.id).limit(500)
                ).all()
                views = [
                    {**approval_view(row), "own_proposal": row.proposed_by == q.asker.account_id}
                    for row in rows
                ]
                q.allow(db)
            return Answered({"approvals": views, "as_of": q.on.isoformat()})

        return run_logged(self.parts, Action.REGISTRY_GRADE_READ, asker, use_case)

    def decide(self, asker: Asker, approval_id: str, body: Body) -> Answer:
        return run_logged(
            self.parts,
            Action.REGISTRY_GRADE_APPROVE,
            asker,
            lambda q: self._decide(q, parse_id(approval_id), body),
        )

    def _decide(self, q: LoggedQuery, approval_id: uuid.UUID | None, body: Body) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            row = (
                None
                if approval_id is None
                else db.get(GradeApproval, approval_id, with_for_update=True)
            )  # two registrars deciding at once, or a regrading superseding it: one at a time
            if row is None:
                q.deny(db, "no_such_approval")
                return not_found()
            q.subject_bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == row.subject_id))
            sent = body.value
            if body.problem is not None:
                q.deny(db, "bad_request")
                return body_refusal(body.problem, body.why)
            if not isinstance(sent, dict) or set(sent) != {"decision"}:
                q.deny(db, "bad_request")
                return bad_input(DECIDE_HINT)
            if sent["decision"] not in ("approve", "refuse"):
                q.deny(db, "bad_request")
                return bad_input(DECIDE_HINT)
            own = db.scalar(select(Account.subject_id).where(Account.id == q.asker.account_id))
            if own is not None and own == row.subject_id:
                q.deny(db, "own_grade")
                return _forbidden("own_grade", "You may not approve your own grade.")
            if row.proposed_by is not None and row.proposed_by == q.asker.account_id:
                q.deny(db, "own_proposal")
                return _forbidden(
                    "own_proposal",
                    "You proposed this grade; a second registrar must approve it.",
                )
            if row.status != "pending":
                q.deny(db, "not_pending")
                return Refused(
                    RefusalKind.CONFLICT, "not_pending", "This grade was decided or superseded."
                )
            approve = sent["decision"] == "approve"
            row.status = "approved" if approve else "refused"
            row.decided_by, row.decided_at = q.asker.account_id, q.at
            db.flush()
            if approve:
                self._count(db, row, q)
            view = approval_view(row)
            q.allow(db, reason="grade_approved" if approve else "grade_refused")
        return Answered({"approval": view})

    def _count(self, db: Session, row: GradeApproval, q: LoggedQuery) -> None:
        """Make the approved grade count, and let the lists propose what it changes."""
        graded = db.get(SubjectGrade, row.subject_id)
        assert graded is not None  # an approval is written with its grading
        graded.counted_grade, graded.counted_score = row.grade, row.score
        graded.counted_explanation, graded.counted_at = row.explanation, q.at
        db.flush()
        review = list_review(
            self.parts.catalog, self.parts.cipher, self.parts.key_provider, self.parts.query_log()
        )
        review.derive(db, on=q.on, now=q.at, subject_id=row.subject_id)

    def recompute(self, asker: Asker, body: Body) -> Answer:
        return run_logged(
            self.parts, Action.REGISTRY_GRADE_RECOMPUTE, asker, lambda q: self._one(q, body)
        )

    def _one(self, q: LoggedQuery, body: Body) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            sent = body.value
            if body.problem is not None:
                q.deny(db, "bad_request")
                return body_refusal(body.problem, body.why)
            if not isinstance(sent, dict) or set(sent) != {"subject_ref"}:
                q.deny(db, "bad_request")
                return bad_input(RECOMPUTE_HINT)
            subject_id = parse_id(sent["subject_ref"])
            subject = None if subject_id is None else db.get(Subject, subject_id)
            if subject is None:
                q.deny(db, "no_such_subject")
                return not_found()
            q.subject_bidx = subject.id_bidx
            counts = self.grader().regrade(
                db, [subject.id], on=q.on, now=q.at, proposer=self._proposer(q), force=True
            )
            db.flush()
            row = db.get(SubjectGrade, subject.id)
            assert row is not None
            db.refresh(row)
            answer = _recomputed(subject.id, row, counts)
            q.allow(db, reason="grade_recomputed")
        return Answered(answer)

    def recompute_all(self, asker: Asker, progress: Callable[[int], None]) -> Answer:
        """Every subject, a chunk of them per unit; one entry when done (console only)."""

        def use_case(q: LoggedQuery) -> Answer:
            total = RegradeCounts()
            decision = q.decide(Target())
            grader, proposer = self.grader(), self._proposer(q)
            after: uuid.UUID | None = None
            while decision.allowed:
                with self.parts.unit() as db:
                    chunk = next_subjects(db, after, CHUNK_SUBJECTS)
                    counts = grader.regrade(db, chunk, on=q.on, now=q.at, proposer=proposer)
                if not chunk:
                    break
                after = chunk[-1]
                for name in TOTALS:
                    setattr(total, name, getattr(total, name) + getattr(counts, name))
                progress(len(chunk))
            with q.unit() as db:
                if not decision.allowed:
                    q.deny(db)
                    return refusal_for(decision)
                q.allow(db, reason="grades_recomputed")
            return Answered({name: getattr(total, name) for name in TOTALS})

        return run_logged(self.parts, Action.REGISTRY_GRADE_RECOMPUTE, asker, use_case)

    @staticmethod
    def _proposer(q: LoggedQuery) -> Proposer:
        return Proposer(q.asker.actor_ref, q.asker.account_id)

    @staticmethod
    def _pending_of(db: Session, subject_id: uuid.UUID) -> uuid.UUID | None:
        return db.scalar(
            select(GradeApproval.id).where(
                GradeApproval.subject_id == subject_id, GradeApproval.status == "pending"
            )
        )


def next_subjects(db: Session, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """The next `limit` subject ids after `after`, in id order (keyset: memory stays flat)."""
    query = select(Subject.id).order_by(Subject.id).limit(limit)
    if after is not None:
        query = query.where(Subject.id > after)
    return list(db.scalars(query))


def _recomputed(subject_id: uuid.UUID, row: SubjectGrade, counts: RegradeCounts) -> dict[str, Any]:
    return {
        "subject_ref": str(subject_id),
        "grade": row.grade,
        "score": row.score,
        "counted_grade": row.counted_grade,
        "changed": counts.changed > 0,
        "approval_id": str(counts.proposals[0]) if counts.proposals else None,
    }
