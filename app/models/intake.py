"""Department intake: batches and their receipts, per-row errors, written consents on record and
the prior notices of negative records (ARCHITECTURE §3).

Nothing personal is stored in clear here: a batch holds counts and the content's SHA-256; an
error names a row, a field and a rule, never the value; a consent record holds the provider's
document reference, the day it was signed and the concepts it covers; a notice holds the day
and the channel by which the subject was told. Subjects are referenced by id only.
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
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7


class IntakeBatch(Base):
    """One submission (an API body or a signed file): its receipt counts and status."""

    __tablename__ = "intake_batches"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'done')", name="status"),
        CheckConstraint("source IN ('api', 'file')", name="source"),
        CheckConstraint("format IN ('jsonl', 'csv')", name="format"),
        UniqueConstraint("provider_id", "content_sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    source: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(8))
    content_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default="processing")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    corrected: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    consents: Mapped[int] = mapped_column(Integer, default=0)
    expired: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class IntakeError(Base):
    """Why one row of a batch was refused: row, field and rule (never the value)."""

    __tablename__ = "intake_errors"

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intake_batches.id"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    field: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(String(240))


class CollectionConsent(CreatedAt, Base):
    """A subject's written consent, held by a provider, to the collection of consent-bound
    information (income, deposits, securities, insurance, real estate, tax amounts)."""

    __tablename__ = "collection_consents"
    __table_args__ = (UniqueConstraint("provider_id", "consent_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    consent_ref: Mapped[str] = mapped_column(String(64))
    signed_on: Mapped[date] = mapped_column(Date)
    concepts: Mapped[str] = mapped_column(String(200))  # comma-separated collection concepts
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intake_batches.id"), index=True)


class PriorNotice(CreatedAt, Base):
    """Evidence that the subject was told of a negative record before it was furnished."""

    __tablename__ = "prior_notices"
    __table_args__ = (
        Index("ix_prior_notices_subject_id_notified_on", "subject_id", "notified_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), unique=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    record_type: Mapped[str] = mapped_column(String(64))
    notified_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
