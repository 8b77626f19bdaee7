"""The query log's hash chain: an unambiguous canonical encoding and the chained digest.

Guarantees: `canonical` encodes a tuple of fields so that no two different tuples give the
same bytes (every field is length-prefixed; None is distinct from the empty string); the chain
is `entry_hash = SHA-256(prev_hash ‖ canonical(entry))` from a genesis of 32 zero bytes, so any
edit, deletion, insertion or reordering changes every later hash.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from datetime import UTC, datetime

GENESIS = bytes(32)
_NONE = struct.pack(">I", 0xFFFFFFFF)
_LEN = struct.Struct(">I")

Field = str | int | bytes | datetime | None


def _encode(value: Field) -> bytes:
    if value is None:
        return _NONE
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, bool):
        raise TypeError("booleans are not canonical log fields; use an int or a word")
    elif isinstance(value, int):
        raw = str(value).encode("ascii")
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("log timestamps must be timezone-aware")
        raw = value.astimezone(UTC).isoformat(timespec="microseconds").encode("ascii")
    else:
        raw = value.encode("utf-8")
    return _LEN.pack(len(raw)) + raw


def canonical(fields: Iterable[Field]) -> bytes:
    """The canonical bytes of one entry's fields, in the order given."""
    return b"".join(_encode(value) for value in fields)


def chain_hash(prev_hash: bytes, entry: bytes) -> bytes:
    """SHA-256(prev_hash ‖ entry)."""
    if len(prev_hash) != 32:
        raise ValueError("a chain hash is 32 bytes")
    return hashlib.sha256(prev_hash + entry).digest()


def checkpoint_message(sequence: int, entry_hash: bytes) -> bytes:
    """The bytes a checkpoint signs: a fixed label, the sequence number and the entry hash."""
    return b"creditgate-query-log-checkpoint\x00" + struct.pack(">Q", sequence) + entry_hash
