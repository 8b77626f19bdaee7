"""Signed checkpoints of the query log: an HSM signature over `(seq, entry_hash)` of the head.

Guarantees:
- a checkpoint is written in the same unit of work as the append (or the `flask log checkpoint`
  unit) that made it due, while the head row is locked: it always names an entry that exists
  and commits with it, or not at all;
- the signature is made by the HSM key `SigningKey.LOG_CHECKPOINT` over
  `crypto.hash_chain.checkpoint_message(seq, entry_hash)`; an HSM failure propagates (the
  append fails, the caller answers 503): a checkpoint is never skipped silently;
- nothing but the sequence number and the chain hash is signed or stored: no entry content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.models.base import as_utc, utcnow
from app.models.query_log import LogCheckpoint, QueryLogHead
from crypto.hash_chain import checkpoint_message
from crypto.keys import KeyProvider, SigningKey

CHECKPOINT_KEY = SigningKey.LOG_CHECKPOINT
_HEAD = cast(Table, QueryLogHead.__table__)
_CHECKPOINTS = cast(Table, LogCheckpoint.__table__)
_LOCK_HEAD = (
    select(_HEAD.c.last_seq, _HEAD.c.last_hash, _HEAD.c.checkpoint_seq, _HEAD.c.checkpoint_at)
    .where(_HEAD.c.id == 1)
    .with_for_update()
)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(
        last_seq=bindparam("last_seq"),
        last_hash=bindparam("last_hash"),
        checkpoint_seq=bindparam("checkpoint_seq"),
        checkpoint_at=bindparam("checkpoint_at"),
    )
)


@dataclass(frozen=True)
class Head:
    """The head row as read under its lock: the last entry and the last checkpoint."""

    last_seq: int
    last_hash: bytes
    checkpoint_seq: int
    checkpoint_at: datetime | None


def checkpoint_due(head: Head, now: datetime, *, every: int, seconds: int) -> bool:
    """True when the head is `every` entries past the last checkpoint, or when there are
    unsigned entries and the last checkpoint (or none at all) is older than `seconds`."""
    unsigned = head.last_seq - head.checkpoint_seq
    if unsigned <= 0:
        return False
    if unsigned >= every:
        return True
    if head.checkpoint_at is None:
        return True
    return now - as_utc(head.checkpoint_at) >= timedelta(seconds=seconds)


def lock_head(connection: Connection) -> Head:
    """The head row, locked for the rest of the unit (FOR UPDATE; on SQLite the unit already
    holds the write lock). Read with Core on the unit's connection: the ORM never holds a copy
    that could go stale."""
    last_seq, last_hash, checkpoint_seq, checkpoint_at = connection.execute(_LOCK_HEAD).one()
    return Head(last_seq, bytes(last_hash), checkpoint_seq, checkpoint_at)


def move_head(connection: Connection, head: Head) -> None:
    """Store `head` (the caller holds the row's lock)."""
    connection.execute(
        _MOVE_HEAD,
        {
            "last_seq": head.last_seq,
            "last_hash": head.last_hash,
            "checkpoint_seq": head.checkpoint_seq,
            "checkpoint_at": head.checkpoint_at,
        },
    )


def sign_head(connection: Connection, signer: KeyProvider, head: Head, now: datetime) -> Head:
    """Sign the (locked) head's last entry and store the checkpoint. Returns the head with
    its checkpoint marker moved, for the caller to store with `move_head`."""
    signature = signer.sign(CHECKPOINT_KEY, checkpoint_message(head.last_seq, head.last_hash))
    connection.execute(
        insert(_CHECKPOINTS).values(
            seq=head.last_seq,
            entry_hash=head.last_hash,
            signed_at=now,
            key_label=CHECKPOINT_KEY.value,
            signature=signature,
        )
    )
    return Head(head.last_seq, head.last_hash, head.last_seq, now)


def checkpoint_now(db: Session | Connection, signer: KeyProvider) -> int | None:
    """Sign the current head now (for cron when traffic stops). None if the head is already
    checkpointed (or the log is empty)."""
    connection = db if isinstance(db, Connection) else db.connection()
    head = lock_head(connection)
    if head.last_seq <= head.checkpoint_seq:
        return None
    signed = sign_head(connection, signer, head, utcnow())
    move_head(connection, signed)
    return signed.checkpoint_seq
