"""Verifying the query log end to end: chain, sequence, signed checkpoints and the head.

Guarantees:
- every entry is read once, in `seq` order, as plain rows through SQLAlchemy Core
  (`yield_per`, server-side cursor on PostgreSQL): memory stays flat however long the log;
- the chain is recomputed from the genesis hash with the very encoder every append uses
  (`entry.EntryEncoding` over `crypto.hash_chain`), so any edit, deletion, insertion,
  reordering or truncation is found;
- every checkpoint's hash must equal the recomputed hash at its `seq`, and its ECDSA signature
  must verify under the LOG_CHECKPOINT public key (checked on the host, no HSM call each);
- the result names the FIRST bad position and what is wrong; it never holds entry contents
  (only sequence numbers and kinds), so it may be printed and logged.

What cannot be found: an attacker with the database owner's rights who rewrites the chain
after the last checkpoint and moves the head to match. Checkpoints every N entries or T
seconds (and `flask log checkpoint` from cron) bound that window.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlalchemy import Connection, select

from app.models.query_log import CANONICAL_COLUMNS, LogCheckpoint, QueryLogEntry, QueryLogHead
from app.services.querylog.entry import EntryEncoding
from crypto.hash_chain import GENESIS, checkpoint_message

EDITED = "edited"
DELETED = "deleted"
INSERTED = "inserted"
REORDERED = "reordered"
TRUNCATED = "truncated"
BAD_SIGNATURE = "bad_signature"
CHECKPOINT_MISMATCH = "checkpoint_mismatch"
HEAD_MISMATCH = "head_mismatch"

_SHA256 = hashlib.sha256


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind} ({self.detail})"


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    seconds: float
    problem: Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        stats = (
            f"{self.entries} entries, {self.checkpoints} checkpoints, {self.rate:,.0f} entries/s"
        )
        if self.problem is None:
            return f"query log intact: {stats}"
        return f"query log NOT intact: first problem at {self.problem}; read {stats}"


@dataclass(frozen=True)
class _Checkpoint:
    seq: int
    entry_hash: bytes
    signature: bytes


def _public_key(public_key_der: bytes) -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(public_key_der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the checkpoint key is not an EC public key")
    return key


def _signature_valid(key: ec.EllipticCurvePublicKey, cp: _Checkpoint) -> bool:
    if len(cp.signature) != 64:
        return False
    r = int.from_bytes(cp.signature[:32], "big")
    s = int.from_bytes(cp.signature[32:], "big")
    try:
        key.verify(
            encode_dss_signature(r, s),
            checkpoint_message(cp.seq, cp.entry_hash),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return False
    return True


def verify_log(
    connection: Connection, public_key_der: bytes, *, batch: int = 10_000
) -> VerifyReport:
    """Verify the whole log visible to `connection` (run it inside one snapshot)."""
    started = time.perf_counter()
    key = _public_key(public_key_der)
    head = connection.execute(
        select(QueryLogHead.last_seq, QueryLogHead.last_hash, QueryLogHead.checkpoint_seq).where(
            QueryLogHead.id == 1
        )
    ).one()
    c = LogCheckpoint.__table__.c
    checkpoints = [
        _Checkpoint(seq, entry_hash, signature)
        for seq, entry_hash, signature in connection.execute(
            select(c.seq, c.entry_hash, c.signature).order_by(c.seq)
        )
    ]
    result = connection.execute(_ENTRY_ROWS.execution_options(yield_per=batch))
    try:
        rows = chain.from_iterable(result.partitions())
        problem, count, last_hash = _walk(rows, head, checkpoints, key)
    finally:
        result.close()  # a server-side cursor left open would outlive an early return
    if problem is None:
        problem = _check_tail(count, last_hash, head, checkpoints)
    return VerifyReport(count, len(checkpoints), time.perf_counter() - started, problem)


_LOG = QueryLogEntry.__table__.c
#: Every entry in `seq` order: its canonical columns, then prev_hash and entry_hash.
_ENTRY_ROWS = select(
    *(_LOG[name] for name in CANONICAL_COLUMNS), _LOG.prev_hash, _LOG.entry_hash
).order_by(_LOG.seq)
_PREV, _HASH = len(CANONICAL_COLUMNS), len(CANONICAL_COLUMNS) + 1


def _walk(
    rows: Iterator[Sequence[Any]],
    head: Any,
    checkpoints: list[_Checkpoint],
    key: ec.EllipticCurvePublicKey,
) -> tuple[Problem | None, int, bytes]:
    head_seq: int = head.last_seq
    pending = iter(checkpoints)
    next_cp = next(pending, None)
    next_cp_seq = next_cp.seq if next_cp is not None else -1
    sha256 = _SHA256
    encode = EntryEncoding().entry
    prev = before = GENESIS
    expected = 1
    for row in rows:
        seq = row[0]
        if seq != expected or seq > head_seq or row[_PREV] != prev:
            return _diagnose(row, rows, expected, (before, prev), head_seq), expected - 1, prev
        digest = sha256(prev + encode(row[:_PREV])).digest()
        if digest != row[_HASH]:
            return _diagnose(row, rows, expected, (before, prev), head_seq), expected - 1, prev
        if seq == next_cp_seq and next_cp is not None:
            if next_cp.entry_hash != digest:
                detail = "the signed hash differs from the log's: rewritten at or before here"
                return Problem(seq, CHECKPOINT_MISMATCH, detail), seq, digest
            if not _signature_valid(key, next_cp):
                detail = "checkpoint signature does not verify"
                return Problem(seq, BAD_SIGNATURE, detail), seq, digest
            next_cp = next(pending, None)
            next_cp_seq = next_cp.seq if next_cp is not None else -1
        before, prev = prev, digest
        expected += 1
    if next_cp is not None and next_cp.seq < expected:  # a checkpoint between entries
        return Problem(next_cp.seq, CHECKPOINT_MISMATCH, "no entry at this seq"), expected - 1, prev
    return None, expected - 1, prev


def _diagnose(
    row: Sequence[Any],
    rest: Iterator[Sequence[Any]],
    expected: int,
    hashes_before: tuple[bytes, bytes],
    head_seq: int,
) -> Problem:
    """Name what is wrong at the first row that breaks the chain (slow path, runs once).
    `hashes_before` are the verified hashes of the two entries before `expected`."""
    seq = row[0]
    before, prev = hashes_before
    if seq > expected and expected <= head_seq:
        missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
        return Problem(expected, DELETED, f"entry {missing} missing")
    if seq > head_seq:
        return Problem(seq, INSERTED, f"entry beyond the head (last seq {head_seq})")
    if row[_PREV] == before and before != prev:
        # this entry chains past the one before it: that one was slipped in
        return Problem(seq - 1, INSERTED, "the next entry chains to the one before this one")
    following = next(rest, None)
    if row[_PREV] != prev:
        later = {following[_HASH]} if following is not None else set()
        later.update(r[_HASH] for r in rest)
        if row[_PREV] in later:
            return Problem(seq, REORDERED, "entry chains to a later entry: out of order")
    if following is not None and following[_PREV] == prev:
        return Problem(seq, INSERTED, "the next entry chains to the one before this one")
    if row[_PREV] != prev:
        return Problem(seq, EDITED, "its previous-hash field was changed")
    return Problem(seq, EDITED, "content does not match its hash")


def _check_tail(
    count: int, last_hash: bytes, head: Any, checkpoints: list[_Checkpoint]
) -> Problem | None:
    beyond = [cp.seq for cp in checkpoints if cp.seq > count]
    if head.last_seq > count or beyond:
        named = max([head.last_seq, *beyond])
        return Problem(count + 1, TRUNCATED, f"log ends at seq {count}, {named} was recorded")
    if head.last_hash != last_hash:
        return Problem(count, HEAD_MISMATCH, "the head's hash differs from the last entry's")
    if head.checkpoint_seq and head.checkpoint_seq not in {cp.seq for cp in checkpoints}:
        return Problem(head.checkpoint_seq, HEAD_MISMATCH, "the head names a missing checkpoint")
    return None
