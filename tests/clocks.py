"""A clock tests can move: the system's time shifted by an offset the test sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.clock import SERVICE_TIME_ZONE


class MovableClock:
    """Runs with the system clock until a test moves it; moving it shifts every later reading
    by the same amount (time keeps passing, so idle limits and expiries still work)."""

    def __init__(self, zone: str = SERVICE_TIME_ZONE) -> None:
        self.zone = ZoneInfo(zone)
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def move_to(self, moment: datetime) -> None:
        """From now on it reads `moment` (plus the time that passes)."""
        self.offset = moment - datetime.now(UTC)

    def move_to_day(self, day: date) -> None:
        """From now on it is noon of `day` in the service's time zone."""
        self.move_to(datetime.combine(day, time(12), tzinfo=self.zone))

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
