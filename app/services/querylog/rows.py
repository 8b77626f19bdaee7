"""Reading the query log fast for verification: the rows, and their canonical bytes.

Guarantees:
- `entry_rows` streams plain Core rows in `seq` order (`yield_per`; a server-side cursor on
  PostgreSQL), never ORM objects; the entry time is rendered by the database in exactly the
  ISO form `append` hashed (`datetime.isoformat(timespec="microseconds")`, UTC);
- `RowEncoder.encode` gives the same bytes as `crypto.hash_chain.canonical` over
  `app.services.querylog.log.entry_fields`; columns that repeat are encoded once per distinct
  value set, under a key that is unambiguous or else not used (the row is then encoded from
  its real columns by `exact_canonical`), so a cached encoding can never stand in for a
  different entry.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    String,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)

from app.models.query_log import CANONICAL_COLUMNS, QueryLogEntry
from crypto.hash_chain import canonical


def canonical_at(dialect: str) -> ColumnElement[str]:
    """The entry time as the database renders it, in `datetime.isoformat(timespec=
    "microseconds")` form for UTC — exactly what append hashed — without parsing per row."""
    column = QueryLogEntry.__table__.c.at
    if dialect == "postgresql":
        return func.to_char(
            func.timezone("UTC", column), literal('YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        )
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, as append wrote it)
    raw = type_coerce(column, String)
    return func.substr(raw, 1, 10) + "T" + func.substr(raw, 12) + "+00:00"


#: Columns that repeat from entry to entry, in canonical order. The database joins them into
#: one cache key, each followed by the unit separator U+001F (purpose as "=value" or "!" for
#: NULL). A key with exactly one separator per column is unambiguous; any other key (a value
#: holding U+001F) is never cached and its row is encoded from the real columns instead.
_REPEATING = (
    "actor_kind",
    "tier",
    "action",
    "purpose",
    "decision",
    "reason",
    "rule_ids",
    "fields_released",
    "fee_fen",
    "catalog_version",
    "policy_version",
)
_SEP = "\x1f"


def _repeating_key(dialect: str) -> ColumnElement[str]:
    parts = []
    for name in _REPEATING:
        if name == "purpose":
            parts.append("coalesce('=' || purpose, '!')")
        elif name == "fee_fen":
            parts.append("CAST(fee_fen AS TEXT)")
        else:
            parts.append(name)
    return literal_column(f" || '{_SEP}' || ".join(parts) + f" || '{_SEP}'", String)


def parse_key(key: str) -> list[str | None] | None:
    """The values of a repeating-columns key, or None unless it has exactly one separator per
    column (then no two different rows can share it)."""
    values: list[str | None] = list(key.split(_SEP))
    if len(values) != len(_REPEATING) + 1 or values.pop() != "":
        return None
    purpose = values[3]
    if purpose == "!":
        values[3] = None
    elif purpose is not None and purpose.startswith("="):
        values[3] = purpose[1:]
    else:
        return None
    return values


def exact_canonical(connection: Connection, seq: int) -> bytes:
    """The canonical bytes of one entry from its real columns (rows whose key is ambiguous)."""
    t = QueryLogEntry.__table__.c
    row = connection.execute(
        select(
            t.seq,
            canonical_at(connection.dialect.name),
            *(getattr(t, name) for name in _CANONICAL_REST),
        ).where(t.seq == seq)
    ).one()
    return canonical(row)


#: After `seq` and `at` (which is rendered in SQL), the canonical columns as stored.
_CANONICAL_REST = CANONICAL_COLUMNS[2:]


def entry_rows(connection: Connection, batch: int) -> CursorResult[Any]:
    """Plain rows in `seq` order: seq, time (pre-rendered), actor_ref, subject_bidx,
    consent_jti, request_id, client_address, the repeating-columns key, prev_hash, entry_hash."""
    t = QueryLogEntry.__table__.c
    statement = select(
        t.seq,
        canonical_at(connection.dialect.name),
        t.actor_ref,
        t.subject_bidx,
        t.consent_jti,
        t.request_id,
        t.client_address,
        _repeating_key(connection.dialect.name),
        t.prev_hash,
        t.entry_hash,
    ).order_by(t.seq)
    # per statement: Connection.execution_options would stick to the connection
    return connection.execute(statement.execution_options(yield_per=batch))


_LEN = struct.Struct(">I").pack
_NONE = _LEN(0xFFFFFFFF)
_CACHE_LIMIT = 100_000
_Pieces = tuple[bytes, bytes, bytes, bytes]


def _field(value: str | None) -> bytes:
    if value is None:
        return _NONE
    raw = value.encode()
    return _LEN(len(raw)) + raw


class RowEncoder:
    """`crypto.hash_chain.canonical` of a row, specialised for speed: the repeating columns are
    encoded once per distinct key and cached; seq, time, actor, blind index, consent id,
    request id and address are encoded every time. Returns None for a row whose key is
    ambiguous (the caller then encodes it from its real columns)."""

    def __init__(self) -> None:
        self._cache: dict[str, _Pieces] = {}

    def encode(self, row: Sequence[Any]) -> bytes | None:
        seq, at, actor, bidx, jti, request, address, key = row[:8]
        pieces = self._cache.get(key)
        if pieces is None:
            found = self._pieces(key)
            if found is None:
                return None
            pieces = found
        kind_b, tier_action_b, purpose_b, run_b = pieces
        seq_s = str(seq).encode()
        at_s = at.encode()
        actor_s = actor.encode()
        request_s = request.encode()
        address_s = address.encode()
        return b"".join(
            (
                _LEN(len(seq_s)),
                seq_s,
                _LEN(len(at_s)),
                at_s,
                kind_b,
                _LEN(len(actor_s)),
                actor_s,
                tier_action_b,
                _NONE if bidx is None else _LEN(len(bidx)) + bidx,
                purpose_b,
                _NONE if jti is None else _field(jti),
                run_b,
                _LEN(len(request_s)),
                request_s,
                _LEN(len(address_s)),
                address_s,
            )
        )

    def _pieces(self, key: str) -> _Pieces | None:
        values = parse_key(key)
        if values is None:
            return None
        kind, tier, action, purpose, *run = values
        pieces = (
            _field(kind),
            _field(tier) + _field(action),
            _field(purpose),
            b"".join(_field(value) for value in run),
        )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = pieces
        return pieces
