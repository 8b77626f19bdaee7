"""Subjects' rights on their records: objections (异议), statements (个人声明), and which
records each institution report released (so that institutions see disputes on what they
received). ARCHITECTURE §3.

A record is referred to by the version the subject saw (`record_id`) and by the provider's
key (`provider_id`, `provider_record_id`), which every later version keeps: a mark follows the
record through corrections. What the subject or a registrar wrote is stored only sealed, under
the record's expiry-epoch key, so it is crypto-shredded with the record.
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
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7
from app.models.query_log import Sequence64
from app.models.sealed import Sealed, SealedColumns
from crypto.envelope import Envelope

#: The stages an objection goes through; each reopens it.
OBJECTION_STAGES = ("objection", "reconsideration", "court")
#: How a registrar answers an objection.
OBJECTION_OUTCOMES = ("corrected", "deleted", "upheld")


class Objection(SealedColumns, CreatedAt, Base):
    """A subject's objection to one of their records, from filing to its (last) outcome."""

    __tablename__ = "objections"
    __table_args__ = (
        CheckConstraint("stage IN ('objection', 'reconsideration', 'court')", name="stage"),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('corrected', 'deleted', 'upheld')", name="outcome"
        ),
        Index("ix_objections_subject_id_filed_at", "subject_id", "filed_at"),
        Index("ix_objections_provider_id_status", "provider_id", "status"),
        Index("ix_objections_status_due_on", "status", "due_on"),
        # one open objection per record (whatever version the subject saw)
        Index(
            "uq_objections_open",
            "provider_id",
            "provider_record_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    provider_record_id: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(64))
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"))
    #: what the subject says is wrong
    text: Mapped[Envelope] = mapped_column(Sealed)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage: Mapped[str] = mapped_column(String(16), default="objection")
    stage_opened_on: Mapped[date] = mapped_column(Date)
    #: the last day to answer the open stage (None in court: the court's own pace)
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    #: the registrar's reason for the outcome
    reason: Mapped[Envelope | None] = mapped_column(Sealed)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    #: the version that corrected the record (outcome `corrected`)
    corrected_record_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("records.id"))


class ObjectionAnswer(Base):
    """Each stage's answer to an objection, kept when a later stage reopens it (the subject's
    inbox tells each one)."""

    __tablename__ = "objection_answers"
    __table_args__ = (
        CheckConstraint("outcome IN ('corrected', 'deleted', 'upheld')", name="outcome"),
    )

    #: shredding a record deletes its objections (keys.lifecycle), and their answers with them
    objection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("objections.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Statement(SealedColumns, CreatedAt, Base):
    """A subject's statement on one of their records, shown with it until withdrawn."""

    __tablename__ = "statements"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'withdrawn')", name="status"),
        Index("ix_statements_subject_id_made_at", "subject_id", "made_at"),
        Index(
            "uq_statements_active",
            "provider_id",
            "provider_record_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    provider_record_id: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(64))
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"))
    text: Mapped[Envelope] = mapped_column(Sealed)
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="active")
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReleasedRecord(Base):
    """One record an institution report released: written in the unit that appends the
    report's query-log entry (whose `fields_released` names fields, not records)."""

    __tablename__ = "released_records"
    __table_args__ = (
        Index("ix_released_records_institution_id_released_at", "institution_id", "released_at"),
    )

    log_seq: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=False)
    record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("records.id"), primary_key=True, index=True
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("institutions.id"))
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
