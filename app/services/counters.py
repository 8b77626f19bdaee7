"""Counter rows, kept with two statements that are atomic on both databases: the row is
inserted if absent (a conflict ignored), then raised by a guarded or plain `UPDATE`.
Nothing here commits: a count taken in a unit that rolls back is given back with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table, update
from sqlalchemy.dialects import postgresql, sqlite


def insert_if_absent(connection: Connection, table: Table, values: Mapping[str, Any]) -> None:
    """Insert the row `values` unless a row with its key exists."""
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    connection.execute(insert(table).values(**values).on_conflict_do_nothing())


def count_one(connection: Connection, table: Table, key: Mapping[str, Any], column: str) -> None:
    """Add one to `column` of the row `key` (created at 0 first if absent)."""
    insert_if_absent(connection, table, {**key, column: 0})
    connection.execute(
        update(table)
        .where(*(table.c[name] == value for name, value in key.items()))
        .values({column: table.c[column] + 1})
    )
