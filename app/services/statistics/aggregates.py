"""Aggregate statistics over a period: records furnished by provider and by record type, queries
by tier, by purpose and by the two together (a purpose is declared within its tier: an
institution's under a consent, a government agency's on a legal basis), provider timeliness
(delay from event to submission) and rejection rates.

Guarantees:
- nothing subject-level leaves: every table is counts (records or queries, and the number of
  distinct subjects they describe), and every table goes through `policies.statistics.suppress`
  (a cell under 10 subjects is suppressed, and its complement); providers are organisations and
  are named; subjects never are;
- the period is at most `max_period_days`, its bounds inclusive, in the service's days; a query
  counts when it was allowed and in a query tier;
- every read of the statistics is one query-log entry (who pulled them, when), naming no
  subject. Nothing here commits but that entry, in the caller's unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Table,
    case,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from app.clock import SERVICE_TIME_ZONE
from app.models import DataProvider, IntakeBatch, QueryLogEntry, Record
from app.services.querylog.log import QueryAttempt, QueryLog
from policies.actions import QUERY_TIERS
from policies.statistics import Cell, StatisticsRules, suppress

_RECORDS = cast(Table, Record.__table__)
_LOG = cast(Table, QueryLogEntry.__table__)


class BadPeriod(ValueError):
    """The period is malformed, reversed or too long (message safe to show)."""


@dataclass(frozen=True)
class Reader:
    kind: str  # staff | institution
    ref: str
    request_id: str
    client_address: str
    action: str


def parse_period(
    start: str | None, end: str | None, *, today: date, max_days: int
) -> tuple[date, date]:
    """(from, to) from ISO dates; default: the last 30 days through today."""
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=29)
    except ValueError:
        raise BadPeriod("from and to are dates as YYYY-MM-DD") from None
    if first > last:
        raise BadPeriod("from is after to")
    if (last - first).days + 1 > max_days:
        raise BadPeriod(f"a period covers at most {max_days} days")
    return first, last


def _delay_days(dialect: str) -> ColumnElement[float]:
    """Days from the event to its submission, per dialect."""
    if dialect == "sqlite":
        return func.julianday(_RECORDS.c.received_on) - func.julianday(_RECORDS.c.occurred_on)
    return type_coerce(_RECORDS.c.received_on - _RECORDS.c.occurred_on, Integer)


@dataclass
class StatisticsService:
    rules: StatisticsRules
    log: QueryLog

    def report(
        self, db: Session, reader: Reader, *, first: date, last: date, now: datetime
    ) -> dict[str, Any]:
        names = {
            provider_id: f"{name} ({code})"
            for provider_id, name, code in db.execute(
                select(DataProvider.id, DataProvider.name, DataProvider.credit_code)
            )
        }
        in_period = _RECORDS.c.received_on.between(first, last)
        result: dict[str, Any] = {
            "period": {"from": first.isoformat(), "to": last.isoformat()},
            "min_cell_subjects": self.rules.min_cell_subjects,
            "records_by_provider": self._table(
                db, _RECORDS.c.provider_id, in_period, lambda key: names.get(key, "?")
            ),
            "records_by_type": self._table(db, _RECORDS.c.record_type, in_period, str),
            "queries_by_tier": self._queries(db, _LOG.c.tier, first, last),
            "queries_by_purpose": self._queries(db, _LOG.c.purpose, first, last),
            "queries_by_tier_and_purpose": self._queries(
                db, _LOG.c.tier + literal(":") + func.coalesce(_LOG.c.purpose, "none"), first, last
            ),
            "provider_timeliness": self._timeliness(db, in_period, names),
            "provider_rejections": self._rejections(db, first, last, names),
        }
        self.log.append(
            db,
            QueryAttempt(
                action=reader.action,
                decision="allowed",
                reason="aggregates_only",
                actor_kind=reader.kind,
                actor_ref=reader.ref,
                request_id=reader.request_id,
                client_address=reader.client_address,
                at=now,
            ),
        )
        return result

    def _table(
        self, db: Session, key: Any, where: ColumnElement[bool], label: Any
    ) -> dict[str, Any]:
        rows = db.execute(
            select(key, func.count(), func.count(_RECORDS.c.subject_id.distinct()))
            .where(where)
            .group_by(key)
        ).all()
        total = db.execute(
            select(func.count(), func.count(_RECORDS.c.subject_id.distinct())).where(where)
        ).one()
        cells = [Cell(label(k), subjects, count) for k, count, subjects in rows]
        return self._shown(cells, Cell("total", total[1], total[0]))

    def _queries(self, db: Session, key: Any, first: date, last: date) -> dict[str, Any]:
        start, end = _bounds(first, last)
        where = (
            (_LOG.c.decision == "allowed")
            & _LOG.c.tier.in_(sorted(QUERY_TIERS))
            & (_LOG.c.at >= start)
            & (_LOG.c.at < end)
        )
        rows = db.execute(
            select(key, func.count(), func.count(_LOG.c.subject_bidx.distinct()))
            .where(where)
            .group_by(key)
        ).all()
        total = db.execute(
            select(func.count(), func.count(_LOG.c.subject_bidx.distinct())).where(where)
        ).one()
        cells = [Cell(str(k or "none"), subjects, count) for k, count, subjects in rows]
        return self._shown(cells, Cell("total", total[1], total[0]))

    def _timeliness(
        self, db: Session, where: ColumnElement[bool], names: dict[Any, str]
    ) -> dict[str, Any]:
        delay = _delay_days(db.get_bind().dialect.name)
        timely = func.sum(case((delay <= self.rules.timely_days, 1), else_=0))
        rows = db.execute(
            select(
                _RECORDS.c.provider_id,
                func.count(),
                func.count(_RECORDS.c.subject_id.distinct()),
                func.avg(type_coerce(delay, Float)),
                timely,
            )
            .where(where)
            .group_by(_RECORDS.c.provider_id)
        ).all()
        total = db.execute(
            select(func.count(), func.count(_RECORDS.c.subject_id.distinct())).where(where)
        ).one()
        cells = [
            Cell(
                names.get(provider_id, "?"),
                subjects,
                count,
                (
                    ("mean_delay_days", round(float(mean or 0), 1)),
                    ("timely_share", round(int(on_time or 0) / count, 3) if count else None),
                ),
            )
            for provider_id, count, subjects, mean, on_time in rows
        ]
        shown = self._shown(cells, Cell("total", total[1], total[0]))
        shown["timely_days"] = self.rules.timely_days
        return shown

    @staticmethod
    def _rejections(
        db: Session, first: date, last: date, names: dict[Any, str]
    ) -> list[dict[str, Any]]:
        start, end = _bounds(first, last)
        rows = db.execute(
            select(
                IntakeBatch.provider_id,
                func.count(),
                func.coalesce(func.sum(IntakeBatch.rows), literal(0)),
                func.coalesce(func.sum(IntakeBatch.rejected), literal(0)),
            )
            .where(IntakeBatch.received_at >= start, IntakeBatch.received_at < end)
            .group_by(IntakeBatch.provider_id)
        ).all()
        return [
            {
                "provider": names.get(provider_id, "?"),
                "batches": batches,
                "rows": int(rows_),
                "rejected": int(rejected),
                "rejection_rate": round(int(rejected) / int(rows_), 4) if rows_ else None,
            }
            for provider_id, batches, rows_, rejected in sorted(
                rows, key=lambda r: names.get(r[0], "?")
            )
        ]

    def _shown(self, cells: list[Cell], total: Cell) -> dict[str, Any]:
        shown, kept = suppress(sorted(cells, key=lambda c: c.key), total, self.rules)
        return {"cells": [_cell(c) for c in shown], "total": _cell(kept)}


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The period's first and last days as UTC moments (the days are the city's)."""
    zone = ZoneInfo(SERVICE_TIME_ZONE)
    start = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end


def _cell(cell: Cell) -> dict[str, Any]:
    return {
        "key": cell.key,
        "count": cell.count,
        "subjects": cell.subjects,
        "suppressed": cell.suppressed,
        **dict(cell.extra),
    }
