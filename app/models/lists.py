"""Red and black lists: the changes a rule proposes, reviewed by a compliance officer, and the
listings published after review.

Nothing personal in clear: a subject is referenced by id; a publication carries the HMAC blind
indexes of the subject's name and ID number (so the public search finds it), never either.
A change records the confidentiality check of what it would publish as field names, masks and
verdicts, never values.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
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


class ListChange(Base):
    """A listing or a removal a list rule proposes; published only once an officer approves."""

    __tablename__ = "list_changes"
    __table_args__ = (
        CheckConstraint("list IN ('black', 'red')", name="list"),
        CheckConstraint("change IN ('add', 'remove')", name="change"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'withdrawn')", name="status"
        ),
        Index("ix_list_changes_status_proposed_at", "status", "proposed_at"),
        Index("ix_list_changes_subject_id_list", "subject_id", "list"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    list: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    change: Mapped[str] = mapped_column(String(8))
    rule_id: Mapped[str] = mapped_column(String(48))
    basis: Mapped[str] = mapped_column(Text)  # comma-separated record ids
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_on: Mapped[date] = mapped_column(Date)  # a removal: the day it was decided
    due_by: Mapped[date | None] = mapped_column(Date)  # a removal: stops showing by then
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    check_passed: Mapped[bool] = mapped_column(Boolean)
    check_detail: Mapped[str] = mapped_column(Text)  # JSON: field, public mask, verdict
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(String(200))


class ListPublication(Base):
    """A published listing; it shows until `removed_at`."""

    __tablename__ = "list_publications"
    __table_args__ = (
        CheckConstraint("list IN ('black', 'red')", name="list"),
        Index("ix_list_publications_subject_id_list", "subject_id", "list"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    list: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    rule_id: Mapped[str] = mapped_column(String(48))
    basis: Mapped[str] = mapped_column(Text)
    listed_on: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    added_by_change: Mapped[uuid.UUID] = mapped_column(ForeignKey("list_changes.id"))
    removed_by_change: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("list_changes.id"))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    name_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    id_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
