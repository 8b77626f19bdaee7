"""Retention rules: until when a record is shown, and until when it is kept at all.

Boundary semantics (the same for every rule, and the reason the functions return what they do):
- `display_until` is the **last day the record is shown** (inclusive); from the next day on it is
  hidden. `destroy_after` is the **last day the record is kept**; it is destroyed (its epoch key
  shredded) from the next day on. `None` means "no end yet".
- A period of N years or months "from" a day ends on the *anniversary* of that day: the same day
  of the month N years/months later, or the last day of that month when it has no such day
  (2020-02-29 + 5 years -> 2025-02-28; 2024-01-31 + 1 month -> 2024-02-29), as the Civil Code
  (arts. 201-202) counts periods. The record is hidden **from the anniversary on**, i.e. shown
  through the day before it. Under the Civil Code the anniversary would be the period's last day;
  hiding it one day earlier is the conservative reading: the law sets 5 years as a maximum, never
  a minimum, so no reading of it is exceeded.

Rules (kinds):
- `after_end` (`years`): negative information, kept and shown until `years` after the day the act
  or event ended (`ended_on`); an act that has not ended (`ended_on` is None) stays shown.
- `display_window` (`min_months`, `max_months`, optional `destroy_years_after_end`):
  administrative penalties, shown from the decision day (`occurred_on`) for `max_months`; credit
  repair (`repaired_on`) may end the display earlier, but never before `min_months` have passed.
  Without `destroy_years_after_end` the record is destroyed when it stops being shown; with it,
  it is kept until that many years after `ended_on` (never less than it is shown).
- `until_end` (optional `destroy_years_after_end`): listings (e.g. dishonest judgment debtors),
  shown while listed and hidden from the removal day (`ended_on`) on.
- `permanent`: shown and kept with no end date.
- `life_of_report`: no end date of its own; destroyed together with the subject's report.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

RetentionKind = Literal["after_end", "display_window", "until_end", "permanent", "life_of_report"]
RETENTION_KINDS: tuple[RetentionKind, ...] = (
    "after_end",
    "display_window",
    "until_end",
    "permanent",
    "life_of_report",
)

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """A named retention rule; construction refuses parameters that do not fit its kind."""

    name: str
    kind: RetentionKind
    years: int | None = None
    min_months: int | None = None
    max_months: int | None = None
    destroy_years_after_end: int | None = None

    def __post_init__(self) -> None:
        given = {
            key
            for key in ("years", "min_months", "max_months", "destroy_years_after_end")
            if getattr(self, key) is not None
        }
        allowed: set[str] = {
            "after_end": {"years"},
            "display_window": {"min_months", "max_months", "destroy_years_after_end"},
            "until_end": {"destroy_years_after_end"},
        }.get(self.kind, set())
        if self.kind not in RETENTION_KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if extra := sorted(given - allowed):
            raise ValueError(f"kind {self.kind!r} takes no {', '.join(extra)}")
        for key in sorted(given):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1")
        if self.kind == "after_end" and self.years is None:
            raise ValueError("kind 'after_end' needs years")
        if self.kind == "display_window":
            if self.min_months is None or self.max_months is None:
                raise ValueError("kind 'display_window' needs min_months and max_months")
            if self.min_months > self.max_months:
                raise ValueError("min_months must not exceed max_months")


def add_months(day: date, months: int) -> date:
    """The anniversary `months` later: same day of month, or that month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day: date, years: int) -> date:
    """The anniversary `years` later (29 February becomes 28 February in common years)."""
    return add_months(day, 12 * years)


def _check_order(occurred_on: date, ended_on: date | None, repaired_on: date | None) -> None:
    if ended_on is not None and ended_on < occurred_on:
        raise ValueError("a record cannot end before it occurred")
    if repaired_on is not None and repaired_on < occurred_on:
        raise ValueError("credit repair cannot precede the record it repairs")


def display_until(
    rule: RetentionRule,
    *,
    occurred_on: date,
    ended_on: date | None,
    repaired_on: date | None = None,
) -> date | None:
    """The last day the record is shown (inclusive), or None while it has no end."""
    _check_order(occurred_on, ended_on, repaired_on)
    if rule.kind == "after_end":
        assert rule.years is not None
        return None if ended_on is None else add_years(ended_on, rule.years) - _ONE_DAY
    if rule.kind == "display_window":
        assert rule.min_months is not None
        assert rule.max_months is not None
        hidden_from = add_months(occurred_on, rule.max_months)
        if repaired_on is not None:
            earliest = add_months(occurred_on, rule.min_months)
            hidden_from = min(hidden_from, max(repaired_on, earliest))
        return hidden_from - _ONE_DAY
    if rule.kind == "until_end":
        return None if ended_on is None else ended_on - _ONE_DAY
    return None


def destroy_after(
    rule: RetentionRule,
    *,
    occurred_on: date,
    ended_on: date | None,
    repaired_on: date | None = None,
) -> date | None:
    """The last day the record is kept at all, or None while it has no end."""
    shown_until = display_until(
        rule, occurred_on=occurred_on, ended_on=ended_on, repaired_on=repaired_on
    )
    if rule.kind in ("after_end", "permanent", "life_of_report"):
        return shown_until
    if rule.destroy_years_after_end is None:
        return shown_until
    if ended_on is None:
        return None
    kept_until = add_years(ended_on, rule.destroy_years_after_end) - _ONE_DAY
    return kept_until if shown_until is None else max(kept_until, shown_until)


def retention_dates(
    rule: RetentionRule,
    occurred_on: date,
    ended_on: date | None,
    repaired_on: date | None = None,
) -> tuple[date | None, date | None]:
    """`(display_until, destroy_after)` for one record, with the semantics above."""
    return (
        display_until(rule, occurred_on=occurred_on, ended_on=ended_on, repaired_on=repaired_on),
        destroy_after(rule, occurred_on=occurred_on, ended_on=ended_on, repaired_on=repaired_on),
    )


def is_displayed(
    rule: RetentionRule,
    *,
    occurred_on: date,
    ended_on: date | None,
    on: date,
    repaired_on: date | None = None,
) -> bool:
    """Whether the record is shown on day `on`: from `occurred_on` through `display_until`."""
    if on < occurred_on:
        return False
    last = display_until(rule, occurred_on=occurred_on, ended_on=ended_on, repaired_on=repaired_on)
    return last is None or on <= last
