"""Grades A–E (ARCHITECTURE §3 "Grading"): each subject's latest grading, the grade that
counts, and the second approvals an A or an E waits for.

`subject_grades` holds one row per graded subject: the latest grading by the scorecard
(`score`, `grade`, `explanation`: every factor that moved the score, by how many points, and
the records it counted — ids, never values) and the grade that counts (`counted_*`). A B, C or
D counts at once; an A or an E counts only once a `grade_approvals` row for it is approved by a
registrar other than its proposer, which the database enforces too (`ck_..._second_person`).
Until then the previous counted grade (or none: "pending") is what shows.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.ids import uuid7


class SubjectGrade(Base):
    """A subject's latest grading and the grade that counts."""

    __tablename__ = "subject_grades"
    __table_args__ = (
        CheckConstraint("grade IN ('A', 'B', 'C', 'D', 'E')", name="grade"),
        CheckConstraint(
            "counted_grade IS NULL OR counted_grade IN ('A', 'B', 'C', 'D', 'E')",
            name="counted_grade",
        ),
        CheckConstraint("score BETWEEN 0 AND 100", name="score"),
        Index("ix_subject_grades_counted_grade", "counted_grade"),
    )

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(1))
    explanation: Mapped[str] = mapped_column(Text)  # JSON: base, factors, held_back
    scorecard_version: Mapped[str] = mapped_column(String(64))
    graded_on: Mapped[date] = mapped_column(Date)
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    counted_grade: Mapped[str | None] = mapped_column(String(1))
    counted_score: Mapped[int | None] = mapped_column(Integer)
    counted_explanation: Mapped[str | None] = mapped_column(Text)
    counted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GradeApproval(Base):
    """An A or an E waiting for (or given) a second approval."""

    __tablename__ = "grade_approvals"
    __table_args__ = (
        CheckConstraint("grade IN ('A', 'E')", name="grade"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'refused', 'superseded')", name="status"
        ),
        CheckConstraint(
            "decided_by IS NULL OR proposed_by IS NULL OR decided_by <> proposed_by",
            name="second_person",
        ),
        CheckConstraint(
            "(status IN ('approved', 'refused')) = (decided_by IS NOT NULL)", name="decided"
        ),
        Index("ix_grade_approvals_status_proposed_at", "status", "proposed_at"),
        Index(
            "uq_grade_approvals_pending",
            "subject_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    grade: Mapped[str] = mapped_column(String(1))
    score: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text)
    scorecard_version: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: the registrar whose recomputation proposed it (None: intake or an objection's answer
    #: by a provider's submission; `proposed_ref` names that actor as the log does)
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    proposed_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
