"""Counted allowances: free own reports per calendar year, and per-day uses of an action.

Guarantees:
- a use is taken only by `UPDATE … SET used = used + 1 WHERE … AND used < limit` on a row that
  exists (inserted first if absent, a conflict being ignored), and counted as taken only when
  that statement changed a row; concurrent requests therefore never take more than `limit`
  uses, on PostgreSQL (the row lock re-checks the condition) and SQLite (one writer) alike;
- nothing here commits: a use taken in a unit of work that later rolls back (a failed report,
  a log entry that could not be written) is given back with it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models.usage import DailyUse, ReportAllowance

_ALLOWANCES = cast(Table, ReportAllowance.__table__)
_DAILY = cast(Table, DailyUse.__table__)


def _insert_if_absent(db: Session, table: Table, values: dict[str, Any]) -> None:
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.execute(insert(table).values(**values, used=0).on_conflict_do_nothing())


def _changed(result: Any) -> bool:
    return cast(CursorResult[Any], result).rowcount == 1


class AllowanceService:
    """Takes one counted use atomically, or says the limit is reached."""

    def take_free_report(
        self, db: Session, *, account_id: uuid.UUID, year: int, limit: int
    ) -> bool:
        """Take one of the account's `limit` free own reports of `year`; False once used up."""
        if limit <= 0:
            return False
        _insert_if_absent(db, _ALLOWANCES, {"account_id": account_id, "year": year})
        result = db.execute(
            update(_ALLOWANCES)
            .where(
                _ALLOWANCES.c.account_id == account_id,
                _ALLOWANCES.c.year == year,
                _ALLOWANCES.c.used < limit,
            )
            .values(used=_ALLOWANCES.c.used + 1)
        )
        return _changed(result)

    def take_daily_use(
        self, db: Session, *, account_id: uuid.UUID, action: str, day: date, limit: int
    ) -> bool:
        """Take one of the account's `limit` uses of `action` on `day`; False once used up."""
        if limit <= 0:
            return False
        key = {"account_id": account_id, "action": action, "day": day}
        _insert_if_absent(db, _DAILY, key)
        result = db.execute(
            update(_DAILY)
            .where(
                _DAILY.c.account_id == account_id,
                _DAILY.c.action == action,
                _DAILY.c.day == day,
                _DAILY.c.used < limit,
            )
            .values(used=_DAILY.c.used + 1)
        )
        return _changed(result)
