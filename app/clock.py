"""The service's one clock: what time it is, and which day it is where the service runs.

Every use case and view asks the container's clock (`Container.clock`); nothing reads the
system time on its own, so a test moves time for the whole service by injecting another clock
(`create_app(..., clock=...)`).

Guarantees: `now()` is timezone-aware UTC; `today()` is the calendar day in the service's time
zone (the city's: Asia/Shanghai by default), which is the day that free-report years, daily
limits, display periods and download windows count in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

SERVICE_TIME_ZONE = "Asia/Shanghai"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...

    def today(self) -> date:
        """The current calendar day in the service's time zone."""
        ...


class SystemClock:
    """The operating system's clock, read in the service's time zone."""

    def __init__(self, zone: str = SERVICE_TIME_ZONE) -> None:
        self.zone = ZoneInfo(zone)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(self.zone).date()
