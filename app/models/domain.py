"""Subjects, data providers and credit records (ARCHITECTURE §3).

Personal data lives only in sealed columns: a subject's ID number and name are in the sealed
`identity`, found through the HMAC blind index `id_bidx`; a record's fields are one sealed
`payload`. The plain columns hold only what policy decisions need without opening anything:
category, type, dates, negative flag, disclosure class.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
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


class Subject(SealedColumns, CreatedAt, Base):
    """A natural person (信息主体)."""

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    id_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    identity: Mapped[Envelope] = mapped_column(Sealed)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True)


class Record(SealedColumns, CreatedAt, Base):
    """One credit record of one catalog type about one subject."""

    __tablename__ = "records"
    __table_args__ = (
        CheckConstraint("category IN ('A', 'B', 'C', 'D')", name="category"),
        CheckConstraint("disclosure IN ('public', 'archive', 'restricted')", name="disclosure"),
        Index("ix_records_subject_id_category", "subject_id", "category"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"), index=True)
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
