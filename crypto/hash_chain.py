"""The query log's hash chain: the canonical encoding of an entry and the chained digest.

This module is the one owner of the canonical encoding. Every append (in Python, and the
PostgreSQL append function, which encodes only the sequence number itself and is held to this
encoding by a property test), the verifier and the auditors' document (docs/query-log.md) use
exactly this:

- an entry is a tuple of fields in a fixed order; each field is encoded as a 4-byte
  big-endian length followed by that many bytes, or as FF FF FF FF for NULL (so None differs
  from the empty string and no two different tuples give the same bytes);
- text is UTF-8; an integer is its decimal digits in ASCII (a leading "-" when negative);
  bytes are themselves; a time is `datetime.isoformat(timespec="microseconds")` of the moment
  in UTC (`2026-12-04T08:00:00.000000+00:00`); booleans are refused;
- fields from a fixed position on (`optional_from`) form an *optional tail*: the NULLs at the
  end of an entry are left out rather than encoded, so a field added to the format later is
  encoded only where an entry holds it and every entry written before it was added keeps its
  bytes (and hash); a NULL before a present tail field is encoded as usual. The width of the
  entry before the tail is fixed, so the bytes still decode to one tuple only;
- `entry_hash = SHA-256(prev_hash ‖ canonical(entry))` from a genesis of 32 zero bytes, so any
  edit, deletion, insertion or reordering changes every later hash;
- a checkpoint signs `"creditgate-query-log-checkpoint" ‖ 0x00 ‖ uint64_be(seq) ‖ entry_hash`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

GENESIS = bytes(32)
NULL = struct.pack(">I", 0xFFFFFFFF)
_LEN = struct.Struct(">I").pack
CHECKPOINT_LABEL = b"creditgate-query-log-checkpoint\x00"

Field = str | int | bytes | datetime | None


def encode_field(value: Field) -> bytes:
    """One field's canonical bytes: its length, then its bytes; NULL for None."""
    if value is None:
        return NULL
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, bool):
        raise TypeError("booleans are not canonical log fields; use an int or a word")
    elif isinstance(value, int):
        raw = str(value).encode("ascii")
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("log timestamps must be timezone-aware")
        raw = value.astimezone(UTC).isoformat(timespec="microseconds").encode("ascii")
    else:
        raise TypeError(f"{type(value).__name__} is not a canonical log field")
    return _LEN(len(raw)) + raw


def canonical(fields: Iterable[Field], *, optional_from: int | None = None) -> bytes:
    """The canonical bytes of one entry's fields, in the order given; the NULLs ending the
    fields from position `optional_from` on (the optional tail) are left out."""
    values = list(fields)
    if optional_from is not None:
        values = values[: _tail_end(values, optional_from)]
    return b"".join(encode_field(value) for value in values)


def _tail_end(values: Sequence[Field], optional_from: int) -> int:
    """How many of `values` are encoded: all but the NULLs that end the optional tail."""
    end = len(values)
    while end > optional_from and values[end - 1] is None:
        end -= 1
    return end


class CanonicalEncoder:
    """`canonical`, remembering the encodings of the fields at `repeating` positions (columns
    whose values recur from entry to entry: the action, the decision, the released fields…)
    and leaving out the NULLs that end the optional tail (`optional_from`, as `canonical`),
    so a long run of entries encodes each distinct value once. Keyed by the value itself, so a
    remembered encoding never stands in for a different value; the memory is bounded."""

    LIMIT = 100_000

    def __init__(
        self, width: int, repeating: Iterable[int] = (), *, optional_from: int | None = None
    ) -> None:
        self._memo: list[dict[Field, bytes] | None] = [None] * width
        for position in repeating:
            self._memo[position] = {}
        self._width = width
        self._optional_from = width if optional_from is None else optional_from

    def encode(self, fields: Sequence[Field]) -> bytes:
        if len(fields) != self._width:
            raise ValueError(f"an entry has {self._width} fields, not {len(fields)}")
        parts: list[bytes] = []
        end = _tail_end(fields, self._optional_from)
        for value, memo in zip(fields[:end], self._memo[:end], strict=True):
            if memo is None:
                parts.append(encode_field(value))
                continue
            encoded = memo.get(value)
            if encoded is None:
                if len(memo) >= self.LIMIT:
                    memo.clear()
                encoded = memo[value] = encode_field(value)
            parts.append(encoded)
        return b"".join(parts)


def chain_hash(prev_hash: bytes, entry: bytes) -> bytes:
    """SHA-256(prev_hash ‖ entry)."""
    if len(prev_hash) != 32:
        raise ValueError("a chain hash is 32 bytes")
    return hashlib.sha256(prev_hash + entry).digest()


def checkpoint_message(sequence: int, entry_hash: bytes) -> bytes:
    """The bytes a checkpoint signs: a fixed label, the sequence number and the entry hash."""
    return CHECKPOINT_LABEL + struct.pack(">Q", sequence) + entry_hash
