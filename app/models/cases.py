"""Review cases (ARCHITECTURE §10): what an officer makes of a flag, or of a suspension.

A case is opened by a review flag (`kind` = flag, one case per flag) or by an officer asking to
lift an institution's suspension (`kind` = lift_suspension). It moves open → in_review →
cleared, or in_review → escalated → closed. The database itself holds the four-eyes rules, so
no code path can skip them: `ck_review_cases_escalation_four_eyes` (whoever escalates is not
the officer who reviewed the case) and `ck_review_cases_closing_four_eyes` (a closed case was
escalated, and closed by someone other than the officer who escalated it).
`review_case_events` is the case's history, one row per step with the officer's note; the
service only ever inserts into it.
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
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.ids import uuid7

CASE_STATES = ("open", "in_review", "cleared", "escalated", "closed")
CASE_KINDS = ("flag", "lift_suspension")
CASE_OUTCOMES = ("cleared", "no_action", "suspend_institution", "lift_suspension")
CASE_STEPS = ("opened", "taken", "noted", "cleared", "escalated", "closed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class ReviewCase(Base):
    __tablename__ = "review_cases"
    __table_args__ = (
        CheckConstraint(_one_of("state", CASE_STATES), name="state"),
        CheckConstraint(_one_of("kind", CASE_KINDS), name="kind"),
        CheckConstraint(f"outcome IS NULL OR {_one_of('outcome', CASE_OUTCOMES)}", name="outcome"),
        CheckConstraint("kind <> 'flag' OR flag_id IS NOT NULL", name="flag_case_has_flag"),
        CheckConstraint(
            "escalated_by IS NULL OR (reviewer_id IS NOT NULL AND escalated_by <> reviewer_id)",
            name="escalation_four_eyes",
        ),
        CheckConstraint(
            "state <> 'closed' OR (escalated_by IS NOT NULL AND decided_by IS NOT NULL "
            "AND decided_by <> escalated_by)",
            name="closing_four_eyes",
        ),
        Index("ix_review_cases_state_deadline", "state", "deadline"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    flag_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("review_flags.id"), unique=True)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    # what the case is about: the actor by kind and reference, the subject by blind index
    actor_kind: Mapped[str | None] = mapped_column(String(16))
    actor_ref: Mapped[str | None] = mapped_column(String(64))
    subject_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    institution_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("institutions.id"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    deadline: Mapped[date] = mapped_column(Date)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    escalated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)


class ReviewCaseEvent(Base):
    __tablename__ = "review_case_events"
    __table_args__ = (CheckConstraint(_one_of("step", CASE_STEPS), name="step"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    officer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    step: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
