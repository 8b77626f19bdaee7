"""The working-day calendar (policies/data/calendar-cn.toml): which days are working days, and
the n-th working day after a day.

Guarantees:
- `load_calendar` returns a calendar only if the whole file is valid: every date is a real date
  of its own year, a day off is a weekday (a weekend needs no listing), a working weekend is a
  Saturday or Sunday, no day is both; else one `CalendarError` naming the file and the year;
- a day is a working day unless it is a Saturday or Sunday or a listed day off; a listed
  working weekend is a working day;
- `working_day_after(day, n)` is the n-th working day after `day` (n >= 1): a deadline "within
  n working days" of `day` ends with that day. It says whether the count crossed a year whose
  arrangement is not announced (`provisional`): there the calendar knows only the statutory
  holidays (or, past the last year in the file, only weekends), so the deadline may fall early,
  never late by more than the unknown make-up working weekends.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from types import MappingProxyType
from typing import Literal

from policies.toml_tables import StrictTable

YearStatus = Literal["announced", "statutory"]
_STATUSES = ("announced", "statutory")
_MAX_SPAN_DAYS = 400  # a count of working days never looks further than this


class CalendarError(ValueError):
    """The calendar file is invalid; the message names the file and the year."""


@dataclass(frozen=True, slots=True)
class Year:
    year: int
    status: YearStatus
    source: str
    days_off: frozenset[date]
    working_weekends: frozenset[date]


@dataclass(frozen=True, slots=True)
class Deadline:
    day: date
    provisional: bool  # counted across a year whose arrangement is not announced


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    years: MappingProxyType[int, Year]

    def is_working_day(self, day: date) -> bool:
        year = self.years.get(day.year)
        if year is not None:
            if day in year.working_weekends:
                return True
            if day in year.days_off:
                return False
        return day.weekday() < 5

    def announced(self, day: date) -> bool:
        year = self.years.get(day.year)
        return year is not None and year.status == "announced"

    def working_day_after(self, day: date, n: int) -> Deadline:
        if n < 1:
            raise ValueError("count at least one working day")
        provisional = False
        current = day
        for _ in range(_MAX_SPAN_DAYS):
            current += timedelta(days=1)
            provisional = provisional or not self.announced(current)
            if self.is_working_day(current):
                n -= 1
                if n == 0:
                    return Deadline(current, provisional)
        raise ValueError("no such working day within 400 days")


def _dates(t: StrictTable, key: str, year: int, error: CalendarError) -> frozenset[date]:
    days: set[date] = set()
    for text in t.texts(key):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise error from None
        if day.year != year:
            raise error
        days.add(day)
    return frozenset(days)


def parse_calendar(text: str, *, source: str) -> WorkingCalendar:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"{source}: not valid TOML ({exc})") from None
    top = StrictTable(
        doc, allowed=("schema", "year"), error=lambda p: CalendarError(f"{source}: {p}")
    )
    if top.integer("schema") != 1:
        raise CalendarError(f"{source}: only calendar schema 1 is understood")
    raw = top.raw("year")
    if not isinstance(raw, dict) or not raw:
        raise CalendarError(f"{source}: at least one [year.<YYYY>] is required")
    years: dict[int, Year] = {}
    for key, body in raw.items():
        if not (isinstance(key, str) and key.isdigit() and len(key) == 4):
            raise CalendarError(f"{source}: year {key!r}: a year is four digits")
        number = int(key)

        def error(problem: str, number: int = number) -> CalendarError:
            return CalendarError(f"{source}: year {number}: {problem}")

        t = StrictTable(
            body, allowed=("status", "source", "days_off", "working_weekends"), error=error
        )
        status = t.text("status")
        if status not in _STATUSES:
            raise error(f"status is one of {', '.join(_STATUSES)}")
        days_off = _dates(t, "days_off", number, error("a day off is a date of this year"))
        weekends = _dates(
            t, "working_weekends", number, error("a working weekend is a date of this year")
        )
        if any(day.weekday() >= 5 for day in days_off):
            raise error("a day off on a Saturday or Sunday needs no listing")
        if any(day.weekday() < 5 for day in weekends):
            raise error("a working weekend is a Saturday or a Sunday")
        years[number] = Year(
            number,
            "announced" if status == "announced" else "statutory",
            t.text("source"),
            days_off,
            weekends,
        )
    return WorkingCalendar(MappingProxyType(years))


@functools.cache
def default_calendar() -> WorkingCalendar:
    resource = resources.files("policies").joinpath("data", "calendar-cn.toml")
    return parse_calendar(resource.read_text(encoding="utf-8"), source=str(resource))
