"""The scorecard: the seeds' thresholds, explanations that add up, load-time checks, and the
two properties of issue 18 (the points add up to the score; one record moves only its own
factors)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.catalog import load_catalog
from policies.list_rules import Fact
from policies.scorecard import Scorecard, ScorecardError, default_scorecard, parse_scorecard

CATALOG = load_catalog()
CARD = default_scorecard(CATALOG)
ON = date(2026, 12, 5)
TEXT = resources.files("policies").joinpath("data", "scorecard.toml").read_text("utf-8")


def fact(
    ref: str, code: str, *, days_ago: int = 30, status: str | None = None, shown: int | None = None
) -> Fact:
    occurred = ON - timedelta(days=days_ago)
    until = None if shown is None else ON + timedelta(days=shown)
    plain = {} if status is None else {"status": status}
    spec = CATALOG.get(code)
    assert spec is not None
    return Fact(ref, code, spec.negative, occurred, until, plain)


GOOD = [
    fact("t", "C.tax_payment", status="paid_on_time"),
    fact("s", "C.social_insurance", status="contributing"),
    fact("l", "B.loan", status="settled"),
    fact("u", "C.utility_payment", status="normal"),
]


def test_no_records_is_the_base_score_grade_b() -> None:
    grading = CARD.grade([], ON)
    assert (grading.score, grading.grade, grading.moved) == (96, "B", ())


def test_good_records_reach_a_and_say_why() -> None:
    grading = CARD.grade(GOOD, ON)
    assert (grading.score, grading.grade) == (100, "A")
    assert {m.factor: m.points for m in grading.moved} == {
        "tax-paid-on-time": 1,
        "social-insurance-contributing": 1,
        "loan-settled": 1,
        "utilities-normal": 1,
    }


def test_a_violation_in_three_years_holds_a_back_to_the_next_clean_grade() -> None:
    old_penalty = fact("p", "D.penalty_general", days_ago=800, shown=-400)  # no longer shown
    grading = CARD.grade([*GOOD, old_penalty], ON)
    assert (grading.score, grading.grade) == (100, "B")  # past display: costs no points
    assert [(h.grade, h.records) for h in grading.held_back] == [("A", ("p",))]


def test_a_violation_this_year_holds_b_back() -> None:
    penalty = fact("p", "D.penalty_general", days_ago=100, shown=100)
    grading = CARD.grade([*GOOD, penalty], ON)
    assert (grading.score, grading.grade) == (96, "C")  # 100 - 4: B by score, not by record
    assert [(h.grade, h.clean_years) for h in grading.held_back] == [("B", 1)]


def test_a_dishonest_debtor_listing_is_grade_e() -> None:
    grading = CARD.grade([fact("d", "D.dishonest_debtor", days_ago=10)], ON)
    assert (grading.score, grading.grade) == (69, "E")
    assert grading.explanation()["factors"] == [
        {
            "factor": "dishonest-debtor",
            "title": "Listed dishonest judgment debtor",
            "title_zh": "失信被执行人",
            "points": -27,
            "records": ["d"],
        }
    ]


def test_thresholds_are_the_seeds() -> None:
    assert [(g.code, g.min_score, g.clean_years) for g in CARD.grades] == [
        ("A", 98, 3),
        ("B", 90, 1),
        ("C", 80, None),
        ("D", 70, None),
        ("E", 0, None),
    ]
    assert [g.code for g in CARD.grades if g.second_approval] == ["A", "E"]


def test_a_factor_counts_at_most_its_max_records() -> None:
    overdue = [fact(f"o{i}", "B.overdue", days_ago=20 + i) for i in range(5)]
    grading = CARD.grade(overdue, ON)
    (moved,) = grading.moved
    assert (moved.points, len(moved.records)) == (-6, 5)  # -3 each, two counted; all listed


def test_age_bands_split_the_same_record_type() -> None:
    grading = CARD.grade([fact("new", "B.overdue", days_ago=200), fact("old", "B.overdue",
                          days_ago=500)], ON)  # fmt: skip
    assert {m.factor: m.records for m in grading.moved} == {
        "overdue-last-year": ("new",),
        "overdue-earlier": ("old",),
    }


def replace_base(base: int) -> str:
    return TEXT.replace("base = 96", f"base = {base}")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (replace_base(97), "must stay within 0..100"),  # 97 + 4 > 100
        (replace_base(95), "must stay within 0..100"),  # 95 - 96 < 0
        (
            TEXT.replace(
                'field = "status"\nvalues = ["paid_on_time"]',
                'field = "tax_kind"\nvalues = ["paid_on_time"]',
            ),
            "values are not all",
        ),
        (
            TEXT.replace('"D.penalty_general", "D.penalty_serious"', '"C.tax_payment"'),
            "not a negative record type",
        ),
        (TEXT.replace("min_score = 90", "min_score = 99"), "falls from A to E"),
        (
            TEXT.replace(
                'record_types = ["D.criminal_judgment"]\n',
                'record_types = ["D.criminal_judgment"]\nfield = "offence"\nvalues = ["fraud"]\n',
            ),
            "not a non-sensitive enum",
        ),
        (TEXT.replace("points = -27", "points = 0"), "non-zero"),
        (TEXT + "\nsurprise = 1\n", "unknown key"),
    ],
)
def test_invalid_scorecards_are_refused_by_name(text: str, problem: str) -> None:
    with pytest.raises(ScorecardError, match=problem):
        parse_scorecard(text, source="scorecard.toml", catalog=CATALOG)


# --- properties ----------------------------------------------------------------------------

TYPES = sorted(CARD.record_types | {"C.employment"})
STATUSES = ["paid_on_time", "contributing", "settled", "normal", "overdue", "written_off",
            "paid_late", "in_arrears", "open"]  # fmt: skip


@st.composite
def facts(draw: st.DrawFn, ref: str) -> Fact:
    code = draw(st.sampled_from(TYPES))
    spec = CATALOG.get(code)
    assert spec is not None
    occurred = ON - timedelta(days=draw(st.integers(-5, 3 * 365 + 40)))
    shown = draw(st.one_of(st.none(), st.integers(-400, 800)))
    until = None if shown is None else occurred + timedelta(days=shown)
    status = draw(st.sampled_from(STATUSES))
    return Fact(ref, code, spec.negative, occurred, until, {"status": status})


@st.composite
def record_sets(draw: st.DrawFn) -> list[Fact]:
    size = draw(st.integers(0, 25))
    return [draw(facts(f"r{i:02d}")) for i in range(size)]


def total(card: Scorecard, records: list[Fact]) -> tuple[int, int]:
    grading = card.grade(records, ON)
    return grading.score, card.base + sum(m.points for m in grading.moved)


@settings(max_examples=300, deadline=None)
@given(record_sets())
def test_explanation_points_add_up_to_the_score(records: list[Fact]) -> None:
    grading = CARD.grade(records, ON)
    assert grading.score == grading.base + sum(m.points for m in grading.moved)
    assert 0 <= grading.score <= 100
    rule = CARD.rule(grading.grade)
    assert grading.score >= rule.min_score
    counted = {ref for m in grading.moved for ref in m.records}
    assert counted <= {f.record_id for f in records}


@settings(max_examples=300, deadline=None)
@given(record_sets(), st.data())
def test_changing_one_record_moves_only_its_own_factors(
    records: list[Fact], data: st.DataObject
) -> None:
    if not records:
        return
    index = data.draw(st.integers(0, len(records) - 1))
    before = records[index]
    after = data.draw(facts(before.record_id))
    changed = [*records[:index], after, *records[index + 1 :]]
    own = {f.id for f in CARD.factors if f.counts(before, ON) or f.counts(after, ON)}
    old = {m.factor: m for m in CARD.grade(records, ON).moved}
    new = {m.factor: m for m in CARD.grade(changed, ON).moved}
    for factor in set(old) | set(new):
        if factor not in own:
            assert old.get(factor) == new.get(factor)
    removed = [*records[:index], *records[index + 1 :]]
    gone = {m.factor: m for m in CARD.grade(removed, ON).moved}
    for factor in set(old) | set(gone):
        if not any(f.id == factor and f.counts(before, ON) for f in CARD.factors):
            assert old.get(factor) == gone.get(factor)


def test_a_replaced_record_keeps_the_others_points() -> None:
    tax = fact("t", "C.tax_payment", status="paid_on_time")
    penalty = fact("p", "D.penalty_serious", days_ago=2000, shown=10)
    first = {m.factor: m.points for m in CARD.grade([tax, penalty], ON).moved}
    late_tax = dataclasses.replace(tax, plain={"status": "paid_late"})
    second = {m.factor: m.points for m in CARD.grade([late_tax, penalty], ON).moved}
    assert first["serious-penalty"] == second["serious-penalty"] == -12
    assert (first.get("tax-late"), second.get("tax-paid-on-time")) == (None, None)
