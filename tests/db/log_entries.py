"""Counting and appending query-log entries in committed units, for the tests in this folder."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.container import Container
from app.models import QueryLogEntry
from tests.services.test_query_log import attempt


def count_entries(db: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(QueryLogEntry)))


def append_entry(parts: Container) -> None:
    with parts.unit() as db:
        parts.query_log().append(db, attempt())
