"""Grading subjects in the caller's unit of work: read their current records, grade them by the
scorecard (`policies.scorecard`), store the grading, and hold an A or an E for a second
approval.

Guarantees:
- `Grader.regrade` reads only the current versions of the subjects' records of the types the
  scorecard looks at (plain columns), and opens a payload only for a type some factor reads a
  non-sensitive field of, or takes it from `opened` (the payloads the caller holds in plain
  already, e.g. the rows an intake chunk has just written); it reads nothing else sealed;
- for each subject it stores the latest grading (score, grade, explanation, scorecard version)
  in `subject_grades`; a B, C or D counts at once (`counted_*`); an A or an E counts at once
  only if it is the grade that counts already, else a pending `grade_approvals` row holds it
  (one per subject: a pending proposal of another grade is superseded) and the previous
  counted grade, or none, goes on showing; a grading no longer A or E supersedes the pending
  proposal;
- a subject whose grading is unchanged is not written to, unless `force` (a registrar's own
  recomputation: any A or E it yields is proposed anew by them, superseding a pending one,
  so they can never approve what they triggered);
  memory is bounded by the subjects of one call (callers pass at most a chunk of them);
- concurrent units grading the same subject take turns (its `subjects` row, locked FOR NO
  KEY UPDATE on PostgreSQL; SQLite has one writer), so the later one grades every record the
  earlier one committed: a grade never misses a record written at the same time;
- nothing here commits or logs: the caller's unit does (intake, an objection's answer, a
  registrar's recomputation).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    LargeBinary,
    Table,
    bindparam,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from app.models import GradeApproval, Record, Subject, SubjectGrade
from app.models.ids import uuid7
from crypto.envelope import Envelope
from crypto.fields import FieldCipher
from policies.list_rules import Fact
from policies.scorecard import Grading, Scorecard

_RECORDS = cast(Table, Record.__table__)
_SUBJECTS = cast(Table, Subject.__table__)
_GRADES = cast(Table, SubjectGrade.__table__)
_APPROVALS = cast(Table, GradeApproval.__table__)
_UPDATE_GRADE = (
    update(_GRADES)
    .where(_GRADES.c.subject_id == bindparam("sid"))
    .values(
        score=bindparam("score"),
        grade=bindparam("grade"),
        explanation=bindparam("explanation"),
        scorecard_version=bindparam("scorecard_version"),
        graded_on=bindparam("graded_on"),
        graded_at=bindparam("graded_at"),
    )
)
_COUNT_GRADE = (
    update(_GRADES)
    .where(_GRADES.c.subject_id == bindparam("sid"))
    .values(
        counted_grade=bindparam("counted_grade"),
        counted_score=bindparam("counted_score"),
        counted_explanation=bindparam("counted_explanation"),
        counted_at=bindparam("counted_at"),
    )
)
_SUPERSEDE = (
    update(_APPROVALS)
    .where(_APPROVALS.c.id == bindparam("approval_id"), _APPROVALS.c.status == "pending")
    .values(status="superseded")
)


@dataclass(frozen=True)
class Proposer:
    """Who caused a grading: a registrar's account (their own proposal they may not approve),
    or the intake or answer that changed the records (`ref` as the query log names it)."""

    ref: str
    account_id: uuid.UUID | None = None


@dataclass
class RegradeCounts:
    graded: int = 0
    changed: int = 0
    counted: int = 0
    proposed: int = 0
    superseded: int = 0
    proposals: list[uuid.UUID] = field(default_factory=list)


def explanation_json(grading: Grading) -> str:
    return json.dumps(
        grading.explanation(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


@dataclass
class Grader:
    scorecard: Scorecard
    cipher: FieldCipher

    def facts(
        self,
        db: Connection,
        subject_ids: Sequence[uuid.UUID],
        opened: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    ) -> dict[uuid.UUID, list[Fact]]:
        """The subjects' current records the scorecard looks at, as grading facts."""
        found: dict[uuid.UUID, list[Fact]] = {sid: [] for sid in subject_ids}
        if not subject_ids:
            return found
        rows = db.execute(
            select(
                _RECORDS.c.subject_id,
                _RECORDS.c.id,
                _RECORDS.c.record_type,
                _RECORDS.c.is_negative,
                _RECORDS.c.occurred_on,
                _RECORDS.c.display_until,
                type_coerce(_RECORDS.c.payload, LargeBinary),
            ).where(
                _RECORDS.c.subject_id.in_(list(subject_ids)),
                _RECORDS.c.status == "current",
                _RECORDS.c.record_type.in_(sorted(self.scorecard.record_types)),
            )
        )
        for row in rows:
            found[row[0]].append(self.fact(*row[1:], opened=opened))
        return found

    def fact(
        self,
        record_id: uuid.UUID,
        code: str,
        negative: bool,
        occurred: date,
        shown: date | None,
        sealed: bytes,
        *,
        opened: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    ) -> Fact:
        """One record as grading sees it; its payload is opened only for a field factor."""
        wanted = self.scorecard.field_types.get(code)
        plain: dict[str, object] = {}
        if wanted is not None:
            payload = None if opened is None else opened.get(record_id)
            if payload is None:
                payload = self.cipher.open_json(
                    Record.context_for(record_id, "payload"), Envelope.from_bytes(sealed)
                )
            plain = {wanted: payload.get(wanted)}
        return Fact(str(record_id), code, bool(negative), occurred, shown, plain)

    def regrade(
        self,
        db: Session | Connection,
        subject_ids: Iterable[uuid.UUID],
        *,
        on: date,
        now: datetime,
        proposer: Proposer,
        opened: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
        force: bool = False,
    ) -> RegradeCounts:
        """Grade the subjects again and store the result (see the module's guarantees)."""
        connection = db.connection() if isinstance(db, Session) else db
        ids = sorted(set(subject_ids))
        counts = RegradeCounts()
        if not ids:
            return counts
        # one grading of a subject at a time: a concurrent unit grading the same subject waits
        # here, then reads (READ COMMITTED: a fresh statement) the records the first committed.
        # FOR NO KEY UPDATE does not wait on the key-share locks that inserting records takes.
        connection.execute(
            select(_SUBJECTS.c.id)
            .where(_SUBJECTS.c.id.in_(ids))
            .order_by(_SUBJECTS.c.id)
            .with_for_update(key_share=True)
        )
        facts = self.facts(connection, ids, opened)
        return self.store(
            connection, facts, on=on, now=now, proposer=proposer, counts=counts, force=force
        )

    def store(
        self,
        db: Connection,
        facts: Mapping[uuid.UUID, list[Fact]],
        *,
        on: date,
        now: datetime,
        proposer: Proposer,
        counts: RegradeCounts | None = None,
        force: bool = False,
    ) -> RegradeCounts:
        """Store the gradings of subjects whose facts are read already."""
        counts = counts or RegradeCounts()
        ids = list(facts)
        held = {
            row.subject_id: row
            for row in db.execute(
                select(
                    _GRADES.c.subject_id,
                    _GRADES.c.grade,
                    _GRADES.c.score,
                    _GRADES.c.explanation,
                    _GRADES.c.counted_grade,
                ).where(_GRADES.c.subject_id.in_(ids))
            )
        }
        pending = {
            row.subject_id: row
            for row in db.execute(
                select(_APPROVALS.c.id, _APPROVALS.c.subject_id, _APPROVALS.c.grade).where(
                    _APPROVALS.c.subject_id.in_(ids), _APPROVALS.c.status == "pending"
                )
            )
        }
        new_rows: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        counted: list[dict[str, Any]] = []
        proposals: list[dict[str, Any]] = []
        superseded: list[dict[str, Any]] = []
        for sid in ids:
            grading = self.scorecard.grade(facts[sid], on)
            explained = explanation_json(grading)
            counts.graded += 1
            before = held.get(sid)
            unchanged = before is not None and (
                (before.grade, before.score, before.explanation)
                == (grading.grade, grading.score, explained)
            )
            if unchanged and not force:
                continue
            counts.changed += 1
            row = {
                "sid": sid,
                "score": grading.score,
                "grade": grading.grade,
                "explanation": explained,
                "scorecard_version": self.scorecard.version,
                "graded_on": on,
                "graded_at": now,
            }
            (changed if before is not None else new_rows).append(row)
            waiting = pending.get(sid)
            needs_approval = self.scorecard.rule(grading.grade).second_approval and (
                before is None or before.counted_grade != grading.grade
            )
            if waiting is not None and (
                force or not needs_approval or waiting.grade != grading.grade
            ):  # a registrar's own recomputation makes them the proposer
                superseded.append({"approval_id": waiting.id})
                waiting = None
            if not needs_approval:
                counted.append(
                    {
                        "sid": sid,
                        "counted_grade": grading.grade,
                        "counted_score": grading.score,
                        "counted_explanation": explained,
                        "counted_at": now,
                    }
                )
                continue
            if waiting is not None:  # the same grade waits already: bring its figures up
                db.execute(
                    update(_APPROVALS)
                    .where(_APPROVALS.c.id == waiting.id)
                    .values(score=grading.score, explanation=explained)
                )
                continue
            approval_id = uuid7()
            counts.proposals.append(approval_id)
            proposals.append(
                {
                    "id": approval_id,
                    "subject_id": sid,
                    "grade": grading.grade,
                    "score": grading.score,
                    "explanation": explained,
                    "scorecard_version": self.scorecard.version,
                    "proposed_at": now,
                    "proposed_by": proposer.account_id,
                    "proposed_ref": proposer.ref[:64],
                    "status": "pending",
                }
            )
        if new_rows:
            db.execute(
                insert(_GRADES),
                [{k if k != "sid" else "subject_id": v for k, v in r.items()} for r in new_rows],
            )
        if changed:
            db.execute(_UPDATE_GRADE, changed)
        if counted:
            db.execute(_COUNT_GRADE, counted)
        if superseded:
            db.execute(_SUPERSEDE, superseded)
        if proposals:
            db.execute(insert(_APPROVALS), proposals)
        counts.counted += len(counted)
        counts.proposed += len(proposals)
        counts.superseded += len(superseded)
        return counts
