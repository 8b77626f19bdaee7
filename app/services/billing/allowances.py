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

from sqlalchemy import Connection, Table, Update, bindparam, update
from sqlalchemy.orm import Session

from app.models.usage import DailyUse, ReportAllowance
from app.services.counters import insert_if_absent

_ALLOWANCES = cast(Table, ReportAllowance.__table__)
_DAILY = cast(Table, DailyUse.__table__)


def _taking(table: Table, *key: str) -> Update:
    """`UPDATE table SET used = used + 1 WHERE <key> AND used < :limit`, built once."""
    return (
        update(table)
        .where(
            *(table.c[name] == bindparam(f"key_{name}") for name in key),
            table.c.used < bindparam("limit"),
        )
        .values(used=table.c.used + 1)
    )


_TAKE_FREE_REPORT = _taking(_ALLOWANCES, "account_id", "year")
_TAKE_DAILY_USE = _taking(_DAILY, "account_id", "action", "day")


def _take(db: Session, taking: Update, table: Table, key: dict[str, Any], limit: int) -> bool:
    """One use of the counter row `key` if fewer than `limit` are used (the row is created on
    the first use)."""
    connection = db.connection()
    bound = {f"key_{name}": value for name, value in key.items()} | {"limit": limit}
    if _changed(connection, taking, bound) == 1:
        return True
    insert_if_absent(connection, table, {**key, "used": 0})
    return _changed(connection, taking, bound) == 1


def _changed(connection: Connection, statement: Update, bound: dict[str, Any]) -> int:
    return int(connection.execute(statement, bound).rowcount)


class AllowanceService:
    """Takes one counted use atomically, or says the limit is reached."""

    def take_free_report(
        self, db: Session, *, account_id: uuid.UUID, year: int, limit: int
    ) -> bool:
        """Take one of the account's `limit` free own reports of `year`; False once used up."""
        if limit <= 0:
            return False
        return _take(
            db, _TAKE_FREE_REPORT, _ALLOWANCES, {"account_id": account_id, "year": year}, limit
        )

    def take_daily_use(
        self, db: Session, *, account_id: uuid.UUID, action: str, day: date, limit: int
    ) -> bool:
        """Take one of the account's `limit` uses of `action` on `day`; False once used up."""
        if limit <= 0:
            return False
        key = {"account_id": account_id, "action": action, "day": day}
        return _take(db, _TAKE_DAILY_USE, _DAILY, key, limit)
