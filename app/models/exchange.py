"""The bundle exchange between the two sides (ARCHITECTURE §2, docs/exchange.md).

- `ExchangeReceiveKey`: this side's P-256 key for receiving bundles; its private half is stored
  only wrapped by the HSM master key (like a data key), its public half goes to the peer.
- `ExchangePeer`: the other side's registered public keys: the one its bundles are signed with
  (the peer's HSM `cg-bundle-sign`) and the one bundles for it are wrapped for.
- `ExchangeBundle`: every bundle exported (`out`) or imported (`in`), one per (direction, peer,
  sequence): the hash chain each side checks.
- `ExchangePublished`: on the sender, what the peer was last sent of each provider, subject and
  record (no foreign key: a shredded record's entry outlives it, to send its tombstone).
"""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7


class ExchangeReceiveKey(CreatedAt, Base):
    __tablename__ = "exchange_receive_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    public_der: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_private: Mapped[bytes] = mapped_column(LargeBinary)


class ExchangePeer(CreatedAt, Base):
    __tablename__ = "exchange_peers"
    __table_args__ = (CheckConstraint("side IN ('registry', 'portal')", name="side"),)

    side: Mapped[str] = mapped_column(String(16), primary_key=True)
    sign_public_der: Mapped[bytes] = mapped_column(LargeBinary)
    receive_public_der: Mapped[bytes] = mapped_column(LargeBinary)


class ExchangeBundle(CreatedAt, Base):
    __tablename__ = "exchange_bundles"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        UniqueConstraint("direction", "peer", "sequence"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    direction: Mapped[str] = mapped_column(String(8))
    peer: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer)
    bundle_hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    item_count: Mapped[int] = mapped_column(Integer)


class ExchangePublished(Base):
    __tablename__ = "exchange_published"
    __table_args__ = (CheckConstraint("kind IN ('provider', 'subject', 'record')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    ref: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer)
