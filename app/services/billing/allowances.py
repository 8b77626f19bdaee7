"""Counted allowances: free own reports per calendar year, and per-day uses of an action.

Guarantees:
- a use is taken only by `UPDATE … SET used = used + 1 WHERE … AND used < limit`, counted as
  taken only when that statement changed a row; when it changed none, the row is inserted if
  absent (a conflict being ignored) and the same UPDATE decides once more; concurrent
  requests therefore never take more than `limit` uses, on PostgreSQL (the row lock
  re-checks the condition) and SQLite (one writer) alike;
- nothing here commits: a use taken in a unit of work that later rolls back (a failed report,
  a log entry that could not be written) is given back with it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Insert, Table, bindparam, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models.usage import DailyUse, ReportAllowance
from app.prepared import Prepared
from app.services.unit_of_work import connection_of

_ALLOWANCES = cast(Table, ReportAllowance.__table__)
_DAILY = cast(Table, DailyUse.__table__)


def _insert_if_absent(connection: Connection, table: Table, values: dict[str, Any]) -> None:
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    connection.execute(insert(table).values(**values, used=0).on_conflict_do_nothing())


def _taking(table: Table, *key: str) -> Prepared:
    """`UPDATE table SET used = used + 1 WHERE <key> AND used < :limit`, built once (run as a
    prepared statement: it is on the hot path of every counted query)."""
    return Prepared(
        update(table)
        .where(
            *(table.c[name] == bindparam(f"key_{name}") for name in key),
            table.c.used < bindparam("limit"),
        )
        .values(used=table.c.used + 1)
    )


_TAKE_FREE_REPORT = _taking(_ALLOWANCES, "account_id", "year")
_TAKE_DAILY_USE = _taking(_DAILY, "account_id", "action", "day")


def _take(
    db: Session | Connection, taking: Prepared, table: Table, key: dict[str, Any], limit: int
) -> bool:
    """One use of the counter row `key` if fewer than `limit` are used (the row is created on
    the first use)."""
    connection = connection_of(db)
    bound = {f"key_{name}": value for name, value in key.items()} | {"limit": limit}
    if taking.changed(connection, bound) == 1:
        return True
    _insert_if_absent(connection, table, key)
    return taking.changed(connection, bound) == 1


def free_report_taken(only_if: ColumnElement[bool]) -> Insert:
    """PostgreSQL: take one of the account's free own reports of the year, if `only_if` holds,
    as one statement that can lead a larger one (a CTE): the row is created with its first
    use, or its count raised while below `:limit` (at least 1); it returns a row only when a
    use was taken. Parameters: `key_account_id`, `key_year`, `limit` (`free_report_key`)."""
    source = select(
        bindparam("key_account_id", type_=_ALLOWANCES.c.account_id.type),
        bindparam("key_year", type_=_ALLOWANCES.c.year.type),
        literal(1, _ALLOWANCES.c.used.type),
    ).where(only_if)
    return (
        postgresql.insert(_ALLOWANCES)
        .from_select(["account_id", "year", "used"], source)
        .on_conflict_do_update(
            index_elements=[_ALLOWANCES.c.account_id, _ALLOWANCES.c.year],
            set_={"used": _ALLOWANCES.c.used + 1},
            where=_ALLOWANCES.c.used < bindparam("limit"),
        )
        .returning(_ALLOWANCES.c.used)
    )


def free_report_key(account_id: uuid.UUID, year: int, limit: int) -> dict[str, Any]:
    """`free_report_taken`'s parameters."""
    if limit <= 0:
        raise ValueError("no free reports to take")
    return {"key_account_id": account_id, "key_year": year, "limit": limit}


class AllowanceService:
    """Takes one counted use atomically, or says the limit is reached."""

    def take_free_report(
        self, db: Session | Connection, *, account_id: uuid.UUID, year: int, limit: int
    ) -> bool:
        """Take one of the account's `limit` free own reports of `year`; False once used up."""
        if limit <= 0:
            return False
        return _take(
            db, _TAKE_FREE_REPORT, _ALLOWANCES, {"account_id": account_id, "year": year}, limit
        )

    def take_daily_use(
        self, db: Session | Connection, *, account_id: uuid.UUID, action: str, day: date, limit: int
    ) -> bool:
        """Take one of the account's `limit` uses of `action` on `day`; False once used up."""
        if limit <= 0:
            return False
        key = {"account_id": account_id, "action": action, "day": day}
        return _take(db, _TAKE_DAILY_USE, _DAILY, key, limit)
