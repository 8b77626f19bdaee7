"""The statistics service over the packaged rules (the web layer does not import `policies/`)."""

from __future__ import annotations

from app.services.querylog.log import QueryLog
from app.services.statistics.aggregates import StatisticsService
from policies.statistics import default_statistics_rules


def statistics_service(log: QueryLog) -> StatisticsService:
    return StatisticsService(default_statistics_rules(), log)


def max_period_days() -> int:
    return default_statistics_rules().max_period_days
