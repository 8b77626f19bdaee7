"""The list rules take a counted grade as a listing reason (lists.toml `grades`): E the black
list, A the red list, a record rule's listing first; and refuse a grade on both lists."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest

from policies.catalog import load_catalog
from policies.list_rules import (
    Fact,
    ListRulesError,
    default_list_rules,
    listed_on,
    parse_list_rules,
)

CATALOG = load_catalog()
RULES = default_list_rules(CATALOG)
ON = date(2026, 12, 5)
TEXT = resources.files("policies").joinpath("data", "lists.toml").read_text("utf-8")


def test_grade_e_lists_black_and_a_lists_red_without_records() -> None:
    assert [(x.list, x.rule_id, x.basis) for x in listed_on(RULES, [], ON, "E")] == [
        ("black", "black-grade", ())
    ]
    assert [(x.list, x.rule_id) for x in listed_on(RULES, [], ON, "A")] == [("red", "red-grade")]
    assert listed_on(RULES, [], ON, "C") == []
    assert listed_on(RULES, [], ON) == []


def test_a_record_rule_names_its_records_before_the_grade() -> None:
    debtor = Fact("d", "D.dishonest_debtor", True, date(2026, 10, 1), None, {})
    (listing,) = listed_on(RULES, [debtor], ON, "E")
    assert (listing.rule_id, listing.basis) == ("black-dishonest-debtor", ("d",))


def test_a_grade_on_both_lists_is_refused() -> None:
    text = TEXT.replace('grades = ["A"]', 'grades = ["A", "E"]')
    with pytest.raises(ListRulesError, match="one list only"):
        parse_list_rules(text, source="lists.toml", catalog=CATALOG)
