"""The query log (查询使用登记, ARCHITECTURE §7): append-only entries, their head and checkpoints.

Entries never hold an ID number, a name or any released value: the subject appears only as
the blind index, the released fields only by name (`type.field`). `entry_hash` chains every
entry to the one before (`crypto.hash_chain`); `query_log_head` is the one row that serialises
appends (locked for update by each append) and `log_checkpoints` hold HSM signatures over
`(seq, entry_hash)`. The database refuses UPDATE and DELETE on entries and checkpoints (SQLite
triggers; on PostgreSQL the application role holds only SELECT and INSERT on them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

#: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Sequence64 = BigInteger().with_variant(Integer(), "sqlite")


#: The columns an entry's hash covers, in canonical order (everything but the two hashes).
#: The columns from `OPTIONAL_FROM` on are the optional tail (`crypto.hash_chain`): added to
#: the format later, encoded only where an entry holds them, so older entries keep their hash.
CANONICAL_COLUMNS = (
    "seq",
    "at",
    "actor_kind",
    "actor_ref",
    "tier",
    "action",
    "subject_bidx",
    "purpose",
    "consent_jti",
    "decision",
    "reason",
    "rule_ids",
    "fields_released",
    "fee_fen",
    "catalog_version",
    "policy_version",
    "request_id",
    "client_address",
    "legal_basis",
)
OPTIONAL_FROM = CANONICAL_COLUMNS.index("legal_basis")
#: The longest legal basis reference an entry holds (`policies.government`).
LEGAL_BASIS_LENGTH = 160


class QueryLogEntry(Base):
    __tablename__ = "query_log"
    # A subject's query records are read from this index alone (SQLite: a covering index):
    # it holds every column they show and filter on (migration 0008).
    __table_args__ = (
        Index(
            "ix_query_log_query_records",
            "subject_bidx",
            "seq",
            "decision",
            "tier",
            "at",
            "actor_kind",
            "actor_ref",
            "action",
            "purpose",
            "legal_basis",
        ),
        # the compliance review's list of government-tier entries, newest first (migration
        # 0110): a partial index, so it costs nothing on the other tiers' appends
        Index(
            "ix_query_log_government",
            "seq",
            sqlite_where=text("tier = 'government'"),
            postgresql_where=text("tier = 'government'"),
        ),
        # The officers' searches (migration 0070): each leads with what is searched and ends
        # with seq, the keyset of their pages.
        Index("ix_query_log_actor_ref_seq", "actor_ref", "seq"),
        Index("ix_query_log_decision_seq", "decision", "seq"),
        Index("ix_query_log_action_seq", "action", "seq"),
        Index("ix_query_log_at", "at"),
        Index("ix_query_log_request_id", "request_id"),
        Index(
            "ix_query_log_consent_jti",
            "consent_jti",
            sqlite_where=text("consent_jti IS NOT NULL"),
            postgresql_where=text("consent_jti IS NOT NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_ref: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    subject_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    purpose: Mapped[str | None] = mapped_column(String(32))
    consent_jti: Mapped[str | None] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(64))
    rule_ids: Mapped[str] = mapped_column(String(400))
    fields_released: Mapped[str] = mapped_column(Text)
    fee_fen: Mapped[int] = mapped_column(Integer)
    catalog_version: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(45))
    #: a government query's legal basis reference (`regulation:reference`), else NULL
    legal_basis: Mapped[str | None] = mapped_column(String(LEGAL_BASIS_LENGTH))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class QueryLogHead(Base):
    """The single row (id 1) naming the last entry; every append locks it."""

    __tablename__ = "query_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Sequence64)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpoint_seq: Mapped[int] = mapped_column(Sequence64)
    checkpoint_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LogCheckpoint(Base):
    """An HSM signature over `(seq, entry_hash)` of the entry at `seq`."""

    __tablename__ = "log_checkpoints"

    seq: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=False)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_label: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(512))
