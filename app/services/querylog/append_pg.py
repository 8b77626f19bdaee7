"""An append to the query log on PostgreSQL in one statement: lock the head, write the entry
chained to it, move the head (one round trip where the step-by-step append takes three).
`GuardedAppend` puts a charge before it in the same statement, so that a free own report is
taken and logged by one statement in autocommit (`Container.statement_unit`).

The statement (built once):

    WITH prev  AS (SELECT id, last_seq, last_hash FROM query_log_head WHERE id = 1 FOR UPDATE),
         moved AS (UPDATE query_log_head SET last_seq = prev.last_seq + 1,
                          last_hash = sha256(prev.last_hash ‖ <seq field> ‖ :rest)
                   FROM prev WHERE query_log_head.id = prev.id
                   RETURNING last_seq, last_hash, prev.last_hash, checkpoint_seq, checkpoint_at),
         entry AS (INSERT INTO query_log (...) SELECT moved.last_seq, :at, ..., moved.* ...)
    SELECT last_seq, last_hash, checkpoint_seq, checkpoint_at FROM moved

Guarantees:
- the entry hash is exactly `crypto.hash_chain.chain_hash(prev_hash, canonical(entry))`: the
  sequence number is the first canonical field, encoded by PostgreSQL as `canonical` encodes
  it (a 4-byte big-endian length, then its decimal digits), and `rest` is `canonical` of the
  entry's other fields, encoded by the service from the very values the statement stores;
  `flask log verify` recomputes every hash in Python (and the tests run it after concurrent
  appends on PostgreSQL);
- the head row is locked (`FOR UPDATE`) before it is read, in the caller's transaction, after
  whatever the caller locked before (the allowance row): the same lock order as the
  step-by-step append, so the two never deadlock each other; appends serialise on the head
  and sequence numbers stay gap-free;
- it writes nothing but the entry and the head; the checkpoint, when due, is the caller's
  (`app.services.querylog.checkpoints.sign_head`, still under the head's lock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast

from app.models.query_log import CANONICAL_COLUMNS, QueryLogEntry, QueryLogHead
from app.prepared import Prepared
from app.services.querylog.checkpoints import Head, due_after_next_append

#: A charge that writes only if the condition it is given holds (see `GuardedAppend`).
Guard = Callable[[ColumnElement[bool]], Insert]
_LOG = cast(Table, QueryLogEntry.__table__)
_HEAD = cast(Table, QueryLogHead.__table__)
#: The entry's fields after its sequence number, in canonical order: the statement's
#: parameters (and what `rest` encodes).
FIELDS = CANONICAL_COLUMNS[1:]


def _unbounded(column_type: Any) -> Any:
    return Text() if isinstance(column_type, String) else column_type


def _concat(*parts: Any) -> Any:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||", return_type=LargeBinary)(part)
    return joined


def _statement(guard: Guard | None = None) -> Any:
    prev_rows = select(_HEAD.c.id, _HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1)
    if guard is not None:
        # the guard runs only if no checkpoint would be due after this entry (the head as
        # the statement's snapshot has it, not locked: see `checkpoints`), and the head is
        # locked and read only when the guard wrote its row: a one-time filter evaluated
        # before the head's scan, so the guard's row is locked first, as in the
        # step-by-step unit (take the allowance, then append)
        no_checkpoint_due = (
            ~select(_HEAD.c.id).where(_HEAD.c.id == 1, due_after_next_append()).exists()
        )
        taken = guard(no_checkpoint_due).cte("taken")
        prev_rows = prev_rows.where(select(literal(1)).select_from(taken).exists())
    prev = prev_rows.with_for_update().cte("prev")
    seq = prev.c.last_seq + 1
    seq_text = sql_cast(seq, Text)
    seq_field = _concat(
        func.int4send(func.octet_length(seq_text)),
        func.convert_to(seq_text, literal("UTF8")),
    )
    moved = (
        update(_HEAD)
        # FROM prev, joined by the id alone (which never changes): a head version this
        # statement's snapshot saw before another append committed still joins, and is then
        # updated as the newest version, the one `prev` locked and read
        .where(_HEAD.c.id == prev.c.id)
        .values(
            last_seq=seq,
            last_hash=type_coerce(
                func.sha256(
                    _concat(prev.c.last_hash, seq_field, bindparam("rest", type_=LargeBinary))
                ),
                LargeBinary,
            ),
        )
        .returning(
            _HEAD.c.last_seq,
            _HEAD.c.last_hash,
            prev.c.last_hash.label("prev_hash"),
            _HEAD.c.checkpoint_seq,
            _HEAD.c.checkpoint_at,
        )
        .cte("moved")
    )
    entry = (
        insert(_LOG)
        .from_select(
            ["seq", *FIELDS, "prev_hash", "entry_hash"],
            select(
                moved.c.last_seq,
                # typed: a NULL (no purpose, no blind index) must reach its column as its type;
                # strings unbounded, since a cast to VARCHAR(n) would cut them silently
                *(sql_cast(bindparam(name), _unbounded(_LOG.c[name].type)) for name in FIELDS),
                moved.c.prev_hash,
                moved.c.last_hash,
            ),
        )
        .returning(_LOG.c.seq)
        .cte("entry")
    )
    return select(
        moved.c.last_seq, moved.c.last_hash, moved.c.checkpoint_seq, moved.c.checkpoint_at
    ).add_cte(entry)


_APPEND = Prepared(_statement())


class GuardedAppend:
    """The append led by a guard, all one statement: `guard(only_if)` is a data-modifying
    statement (an INSERT … RETURNING: a charge) that writes only if `only_if` holds; the entry
    is written only when the guard returned a row, and then the two commit together. The
    statement is built once."""

    def __init__(self, guard: Guard) -> None:
        self._statement = Prepared(_statement(guard))

    def append(
        self,
        connection: Connection,
        guard_parameters: Mapping[str, Any],
        fields: Mapping[str, Any],
        rest: bytes,
        *,
        checkpoint_every: int,
        checkpoint_due_before: datetime,
    ) -> Head | None:
        """The moved head, or None with nothing written: the guard returned no row, or a
        checkpoint would be due after this entry (the caller's unit appends and signs it)."""
        found = self._statement.rows(
            connection,
            {
                **guard_parameters,
                **fields,
                "rest": rest,
                "checkpoint_every": checkpoint_every,
                "checkpoint_due_before": checkpoint_due_before,
            },
        )
        return _moved_head(found) if found else None


def append_chained(connection: Connection, fields: Mapping[str, Any], rest: bytes) -> Head:
    """Write the entry `fields` (every canonical field but `seq`; `rest` = their canonical
    bytes) after the head, in the caller's transaction. Returns the moved head."""
    return _moved_head(_APPEND.rows(connection, {**fields, "rest": rest}))


def _moved_head(rows: list[tuple[Any, ...]]) -> Head:
    """The one row an append statement returns: the head as it moved it."""
    [(last_seq, last_hash, checkpoint_seq, checkpoint_at)] = rows
    return Head(last_seq, bytes(last_hash), checkpoint_seq, checkpoint_at)
