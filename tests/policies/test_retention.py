"""Retention boundaries: shown through the day before the anniversary, hidden from it on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.retention import (
    RetentionRule,
    add_months,
    add_years,
    destroy_after,
    display_until,
    is_displayed,
    retention_dates,
)

NEGATIVE_5Y = RetentionRule("negative_5y", "after_end", years=5)
GENERAL = RetentionRule(
    "penalty_general", "display_window", min_months=3, max_months=12, destroy_years_after_end=5
)
SERIOUS = RetentionRule(
    "penalty_serious", "display_window", min_months=6, max_months=36, destroy_years_after_end=5
)
LISTING = RetentionRule("listing", "until_end", destroy_years_after_end=5)
ONE_DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 5, 10), 0, date(2024, 5, 10)),
    ],
)
def test_add_months_clamps_to_the_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_add_years_handles_leap_days() -> None:
    assert add_years(date(2020, 2, 29), 5) == date(2025, 2, 28)
    assert add_years(date(2020, 2, 29), 4) == date(2024, 2, 29)
    assert add_years(date(2020, 3, 10), 5) == date(2025, 3, 10)


def test_negative_information_is_shown_through_the_day_before_the_fifth_anniversary() -> None:
    occurred, ended = date(2019, 6, 1), date(2020, 3, 10)
    assert display_until(NEGATIVE_5Y, occurred_on=occurred, ended_on=ended) == date(2025, 3, 9)
    assert destroy_after(NEGATIVE_5Y, occurred_on=occurred, ended_on=ended) == date(2025, 3, 9)
    shown = {
        day: is_displayed(NEGATIVE_5Y, occurred_on=occurred, ended_on=ended, on=day)
        for day in (date(2025, 3, 9), date(2025, 3, 10), date(2025, 3, 11))
    }
    assert shown == {date(2025, 3, 9): True, date(2025, 3, 10): False, date(2025, 3, 11): False}


def test_negative_information_that_ended_on_a_leap_day() -> None:
    occurred, ended = date(2019, 12, 1), date(2020, 2, 29)
    # The fifth anniversary of 29 February 2020 is 28 February 2025 (the month's last day).
    assert display_until(NEGATIVE_5Y, occurred_on=occurred, ended_on=ended) == date(2025, 2, 27)
    for day, expected in (
        (date(2025, 2, 27), True),
        (date(2025, 2, 28), False),
        (date(2025, 3, 1), False),
    ):
        assert is_displayed(NEGATIVE_5Y, occurred_on=occurred, ended_on=ended, on=day) is expected


def test_an_act_that_has_not_ended_stays_shown_and_kept() -> None:
    occurred = date(2010, 1, 1)
    assert retention_dates(NEGATIVE_5Y, occurred, None) == (None, None)
    assert is_displayed(NEGATIVE_5Y, occurred_on=occurred, ended_on=None, on=date(2099, 1, 1))
    assert not is_displayed(NEGATIVE_5Y, occurred_on=occurred, ended_on=None, on=date(2009, 1, 1))


def test_general_penalty_window_is_three_to_twelve_months() -> None:
    decided = date(2024, 1, 15)
    assert display_until(GENERAL, occurred_on=decided, ended_on=None) == date(2025, 1, 14)
    assert is_displayed(GENERAL, occurred_on=decided, ended_on=None, on=date(2025, 1, 14))
    assert not is_displayed(GENERAL, occurred_on=decided, ended_on=None, on=date(2025, 1, 15))
    # Credit repair before the minimum: still shown for the full 3 months.
    early = display_until(GENERAL, occurred_on=decided, ended_on=None, repaired_on=date(2024, 2, 1))
    assert early == date(2024, 4, 14)
    # Credit repair after the minimum: hidden from the repair day on.
    later = display_until(GENERAL, occurred_on=decided, ended_on=None, repaired_on=date(2024, 6, 1))
    assert later == date(2024, 5, 31)
    # A repair after the maximum changes nothing.
    late = display_until(GENERAL, occurred_on=decided, ended_on=None, repaired_on=date(2026, 1, 1))
    assert late == date(2025, 1, 14)


def test_serious_penalty_window_is_six_to_thirty_six_months() -> None:
    decided = date(2023, 8, 31)
    assert display_until(SERIOUS, occurred_on=decided, ended_on=None) == date(2026, 8, 30)
    repaired = display_until(
        SERIOUS, occurred_on=decided, ended_on=None, repaired_on=date(2023, 9, 1)
    )
    assert repaired == date(2024, 2, 28)  # 2023-08-31 + 6 months = 2024-02-29, shown until the 28th


def test_penalty_destruction_follows_the_end_of_the_act_and_never_precedes_display() -> None:
    decided, paid = date(2024, 1, 15), date(2024, 2, 1)
    assert destroy_after(GENERAL, occurred_on=decided, ended_on=paid) == date(2029, 1, 31)
    assert destroy_after(GENERAL, occurred_on=decided, ended_on=None) is None
    without_keep = RetentionRule("w", "display_window", min_months=3, max_months=12)
    assert destroy_after(without_keep, occurred_on=decided, ended_on=paid) == date(2025, 1, 14)


def test_a_listing_is_hidden_from_its_removal_day() -> None:
    listed, removed = date(2023, 1, 1), date(2024, 5, 10)
    assert retention_dates(LISTING, listed, removed) == (date(2024, 5, 9), date(2029, 5, 9))
    assert is_displayed(LISTING, occurred_on=listed, ended_on=removed, on=date(2024, 5, 9))
    assert not is_displayed(LISTING, occurred_on=listed, ended_on=removed, on=date(2024, 5, 10))
    assert retention_dates(LISTING, listed, None) == (None, None)
    no_keep = RetentionRule("l", "until_end")
    assert retention_dates(no_keep, listed, removed) == (date(2024, 5, 9), date(2024, 5, 9))


@pytest.mark.parametrize("kind", ["permanent", "life_of_report"])
def test_rules_without_end(kind: str) -> None:
    rule = RetentionRule("r", kind)  # type: ignore[arg-type]
    assert retention_dates(rule, date(2000, 1, 1), date(2001, 1, 1)) == (None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "after_end"}, "needs years"),
        ({"kind": "after_end", "years": 0}, "at least 1"),
        ({"kind": "after_end", "years": 5, "max_months": 3}, "takes no max_months"),
        ({"kind": "display_window", "min_months": 3}, "needs min_months and max_months"),
        ({"kind": "display_window", "min_months": 13, "max_months": 12}, "must not exceed"),
        ({"kind": "permanent", "years": 1}, "takes no years"),
        ({"kind": "forever"}, "unknown kind"),
    ],
)
def test_rule_parameters_must_fit_the_kind(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionRule("r", **kwargs)  # type: ignore[arg-type]


def test_a_record_cannot_end_or_be_repaired_before_it_occurred() -> None:
    with pytest.raises(ValueError, match="end before"):
        display_until(NEGATIVE_5Y, occurred_on=date(2020, 1, 2), ended_on=date(2020, 1, 1))
    with pytest.raises(ValueError, match="repair"):
        display_until(
            GENERAL,
            occurred_on=date(2020, 1, 2),
            ended_on=None,
            repaired_on=date(2020, 1, 1),
        )


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31)), st.integers(0, 3000))
def test_after_end_boundary_holds_for_every_day(ended: date, duration: int) -> None:
    occurred = ended - timedelta(days=duration)
    anniversary = add_years(ended, 5)
    kwargs = {"occurred_on": occurred, "ended_on": ended}
    assert is_displayed(NEGATIVE_5Y, on=anniversary - ONE_DAY, **kwargs)
    assert not is_displayed(NEGATIVE_5Y, on=anniversary, **kwargs)
    assert destroy_after(NEGATIVE_5Y, **kwargs) == anniversary - ONE_DAY


@given(
    st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    st.one_of(st.none(), st.integers(0, 2000)),
    st.one_of(st.none(), st.integers(0, 2000)),
)
def test_penalty_display_stays_inside_its_window(
    decided: date, repair_after: int | None, end_after: int | None
) -> None:
    repaired = None if repair_after is None else decided + timedelta(days=repair_after)
    ended = None if end_after is None else decided + timedelta(days=end_after)
    for rule in (GENERAL, SERIOUS):
        assert rule.min_months is not None
        assert rule.max_months is not None
        last = display_until(rule, occurred_on=decided, ended_on=ended, repaired_on=repaired)
        assert last is not None
        assert add_months(decided, rule.min_months) - ONE_DAY <= last
        assert last <= add_months(decided, rule.max_months) - ONE_DAY
        kept = destroy_after(rule, occurred_on=decided, ended_on=ended, repaired_on=repaired)
        assert kept is None or kept >= last
