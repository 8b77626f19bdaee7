"""Signed checkpoints of the query log: an HSM signature over `(seq, entry_hash)` of the head.

Guarantees:
- a checkpoint is written in the same transaction as the append (or the `flask log checkpoint`
  unit) that made it due, while the head row is locked: it always names an entry that exists
  and commits with it, or not at all;
- the signature is made by the HSM key `SigningKey.LOG_CHECKPOINT` over
  `crypto.hash_chain.checkpoint_message(seq, entry_hash)`; an HSM failure propagates (the
  append fails, the caller answers 503) — a checkpoint is never skipped silently;
- nothing but the sequence number and the chain hash is signed or stored: no entry content.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import as_utc, utcnow
from app.models.query_log import LogCheckpoint, QueryLogHead
from crypto.hash_chain import checkpoint_message
from crypto.keys import KeyProvider, SigningKey

CHECKPOINT_KEY = SigningKey.LOG_CHECKPOINT


def checkpoint_due(head: QueryLogHead, now: datetime, *, every: int, seconds: int) -> bool:
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


def sign_head(db: Session, signer: KeyProvider, head: QueryLogHead, now: datetime) -> int:
    """Sign the (locked) head's last entry, store the checkpoint, move the head's marker.
    Returns the checkpointed sequence number."""
    signature = signer.sign(CHECKPOINT_KEY, checkpoint_message(head.last_seq, head.last_hash))
    db.add(
        LogCheckpoint(
            seq=head.last_seq,
            entry_hash=head.last_hash,
            signed_at=now,
            key_label=CHECKPOINT_KEY.value,
            signature=signature,
        )
    )
    head.checkpoint_seq = head.last_seq
    head.checkpoint_at = now
    return head.last_seq


def lock_head(db: Session) -> QueryLogHead:
    """The head row, locked for the rest of the transaction (FOR UPDATE; on SQLite the unit
    of work already holds the write lock)."""
    return db.scalars(
        select(QueryLogHead)
        .where(QueryLogHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def checkpoint_now(db: Session, signer: KeyProvider) -> int | None:
    """Sign the current head now (for cron when traffic stops). None if the head is already
    checkpointed (or the log is empty)."""
    head = lock_head(db)
    if head.last_seq <= head.checkpoint_seq:
        return None
    seq = sign_head(db, signer, head, utcnow())
    db.flush()
    return seq
