"""The query log's review: flags the review rules raise, and how far the sweep has read.

A flag is one pattern one rule found (`policies/data/review.toml`), once per rule and key (the
actor or subject and the hour, day or entry it concerns): `uq_review_flags_rule_id_key` makes a
second sweep over the same entries find the same flag, never a copy. It names the entries it
rests on by position (`first_seq`..`last_seq`), the actor and the subject by reference and
blind index only, and `detail` holds figures (counts, thresholds), never a value of a record.
`review_sweep` is one row (id 1): the last entry the sweep has read, locked by each sweep.
`staff_relations` name, by blind index, the people each staff member must not act on.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7
from app.models.query_log import Sequence64


class ReviewFlag(CreatedAt, Base):
    __tablename__ = "review_flags"
    __table_args__ = (
        UniqueConstraint("rule_id", "key"),
        CheckConstraint("severity IN ('low', 'medium', 'high')", name="severity"),
        Index("ix_review_flags_first_seq", "first_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    rule_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(8))
    actor_kind: Mapped[str | None] = mapped_column(String(16))
    actor_ref: Mapped[str | None] = mapped_column(String(64))
    subject_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)  # JSON: figures only
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewSweep(Base):
    """The single row (id 1): the last query-log entry the review sweep has read."""

    __tablename__ = "review_sweep"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Sequence64)
    rules_version: Mapped[str] = mapped_column(String(64))
    swept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StaffRelation(Base):
    """A staff member's own ID number (`relation` = self) or a household member's, as a blind
    index: who they must not act on (ARCHITECTURE §10, conflict of interest). Declared when the
    account is made (`flask accounts declare-relation`); never the number itself."""

    __tablename__ = "staff_relations"
    __table_args__ = (
        CheckConstraint(
            "relation IN ('self', 'spouse', 'parent', 'child', 'sibling', 'household')",
            name="relation",
        ),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    subject_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    relation: Mapped[str] = mapped_column(String(16))
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
