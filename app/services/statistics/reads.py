"""Reading the statistics as the API, the page and the command do: the period checked, the
aggregates computed and the read logged in one unit of work this use case owns.

Guarantees: `read` parses the period (`parse_period`: at most `max_period_days`) and answers
either the report or a sentence saying what is wrong with the period (nothing read, nothing
logged); a report and its query-log entry commit together.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.clock import Clock
from app.services.querylog.log import QueryLog
from app.services.statistics.aggregates import BadPeriod, Reader, parse_period
from app.services.statistics.factory import max_period_days, statistics_service


class StatisticsParts(Protocol):
    @property
    def clock(self) -> Clock: ...

    def query_log(self) -> QueryLog: ...

    def unit(self) -> AbstractContextManager[Session]: ...


def read_statistics(
    parts: StatisticsParts, reader: Reader, first: str | None, last: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(the report, None), or (None, what is wrong with the period)."""
    try:
        start, end = parse_period(
            first, last, today=parts.clock.today(), max_days=max_period_days()
        )
    except BadPeriod as exc:
        return None, str(exc)
    with parts.unit() as db:
        report = statistics_service(parts.query_log()).report(
            db, reader, first=start, last=end, now=parts.clock.now()
        )
    return report, None
