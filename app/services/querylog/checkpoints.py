"""Signed checkpoints of the query log: an HSM signature over `(seq, entry_hash)` of the head.

Guarantees:
- a checkpoint is written in the same transaction as the append (or the `flask log checkpoint`
  unit) that made it due, while the head row is locked: it always names an entry that exists
  and commits with it, or not at all. The one-statement append of PostgreSQL
  (`log_append_pg.GuardedAppend`) never signs: it writes nothing when the head it reads says a
  checkpoint would be due after it (`due_after_next_append`), and the caller's next unit makes
  that append and signs. Racing another append, it may add an entry or two past the
  interval; the next append then finds the checkpoint due;
- the signature is made by the HSM key `SigningKey.LOG_CHECKPOINT` over
  `crypto.hash_chain.checkpoint_message(seq, entry_hash)`; an HSM failure propagates (the
  append fails, the caller answers 503) — a checkpoint is never skipped silently;
- nothing but the sequence number and the chain hash is signed or stored: no entry content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Connection, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from app.models.base import as_utc, utcnow
from app.models.query_log import LogCheckpoint, QueryLogHead
from app.prepared import Prepared
from app.services.unit_of_work import connection_of
from crypto.hash_chain import checkpoint_message
from crypto.keys import KeyProvider, SigningKey

CHECKPOINT_KEY = SigningKey.LOG_CHECKPOINT
_HEAD = cast(Table, QueryLogHead.__table__)
_CHECKPOINTS = cast(Table, LogCheckpoint.__table__)
#: Both run on every append, while the head is locked: prepared statements (`app.prepared`).
_LOCK_HEAD = Prepared(
    select(_HEAD.c.last_seq, _HEAD.c.last_hash, _HEAD.c.checkpoint_seq, _HEAD.c.checkpoint_at)
    .where(_HEAD.c.id == 1)
    .with_for_update()
)
_MOVE_HEAD = Prepared(
    update(_HEAD).where(_HEAD.c.id == 1),
    column_keys=("last_seq", "last_hash", "checkpoint_seq", "checkpoint_at"),
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


def due_after_next_append() -> ColumnElement[bool]:
    """`checkpoint_due` in SQL, over the head row as it would be after one more entry: true
    when that entry would be `:checkpoint_every` past the last checkpoint, when there has
    been no checkpoint yet, or when the last one was signed at or before
    `:checkpoint_due_before` (now less the interval's seconds)."""
    return or_(
        _HEAD.c.last_seq + 1 - _HEAD.c.checkpoint_seq >= bindparam("checkpoint_every"),
        _HEAD.c.checkpoint_at.is_(None),
        _HEAD.c.checkpoint_at
        <= bindparam("checkpoint_due_before", type_=_HEAD.c.checkpoint_at.type),
    )


def lock_head(connection: Connection) -> Head:
    """The head row, locked for the rest of the transaction (FOR UPDATE; on SQLite the unit
    of work already holds the write lock). Read and written with prepared statements on the
    unit's connection: the ORM never holds a copy that could go stale."""
    [(last_seq, last_hash, checkpoint_seq, checkpoint_at)] = _LOCK_HEAD.rows(connection, {})
    return Head(last_seq, last_hash, checkpoint_seq, checkpoint_at)


def move_head(connection: Connection, head: Head) -> None:
    """Store `head` (the caller holds the row's lock from `lock_head`)."""
    _MOVE_HEAD.run(
        connection,
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
    connection = connection_of(db)
    head = lock_head(connection)
    if head.last_seq <= head.checkpoint_seq:
        return None
    signed = sign_head(connection, signer, head, utcnow())
    move_head(connection, signed)
    return signed.checkpoint_seq
