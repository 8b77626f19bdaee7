"""Subjects, data providers and credit records (ARCHITECTURE §3).

Personal data lives only in sealed columns: a subject's ID number and name are in the sealed
`identity`, found through the HMAC blind index `id_bidx`; a record's fields are one sealed
`payload`. The plain columns hold only what policy decisions need without opening anything:
category, type, dates, negative flag, disclosure class.
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
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7
from app.models.sealed import Sealed, SealedColumns
from crypto.envelope import Envelope


class DataProvider(CreatedAt, Base):
    """A department or institution that furnishes records (unified social credit code)."""

    __tablename__ = "data_providers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    #: The OAuth client it submits as (scope `provider:records:submit`); None: demo data only.
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id"), unique=True
    )


class Subject(SealedColumns, CreatedAt, Base):
    """A natural person (信息主体)."""

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    id_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    identity: Mapped[Envelope] = mapped_column(Sealed)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True)
    #: set once the subject has objected to or made a statement on a record: only then does a
    #: report look for marks (app.services.rights), so nobody else's report pays for them
    has_notes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


def _own_id(context: DefaultExecutionContext) -> str:
    """A record written without a provider record id is its own record: its id, as text."""
    return str(context.get_current_parameters()["id"])  # type: ignore[no-untyped-call]


class Record(SealedColumns, CreatedAt, Base):
    """One version of one credit record of one catalog type about one subject.

    A provider's record is `(provider_id, provider_record_id)`; a correction adds a version
    and marks the one before `superseded`, a withdrawal marks the current one `withdrawn`.
    Only `current` versions are ever shown; the others are kept as history (objections).
    """

    __tablename__ = "records"
    __table_args__ = (
        CheckConstraint("category IN ('A', 'B', 'C', 'D')", name="category"),
        CheckConstraint("disclosure IN ('public', 'archive', 'restricted')", name="disclosure"),
        CheckConstraint("status IN ('current', 'superseded', 'withdrawn')", name="status"),
        Index("ix_records_subject_id_category", "subject_id", "category"),
        UniqueConstraint("provider_id", "provider_record_id", "version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    #: found through the unique (provider_id, provider_record_id, version) index, which leads
    #: with it: a separate index on it would only slow every insert
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    record_type: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(1))
    disclosure: Mapped[str] = mapped_column(String(16))
    is_negative: Mapped[bool] = mapped_column(Boolean)
    occurred_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    display_until: Mapped[date | None] = mapped_column(Date)
    destroy_after: Mapped[date | None] = mapped_column(Date, index=True)
    catalog_version: Mapped[str] = mapped_column(String(64))
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True)
    dek_generation: Mapped[int] = mapped_column(Integer, default=1)
    payload: Mapped[Envelope] = mapped_column(Sealed)
    provider_record_id: Mapped[str] = mapped_column(String(64), default=_own_id)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="current")
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    change_reason: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("intake_batches.id"))
    received_on: Mapped[date | None] = mapped_column(Date)
    consent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("collection_consents.id"))
