"""The life of a review case as pure rules (policies/cases.py) and its terms in review.toml."""

from __future__ import annotations

from datetime import date

import pytest

from policies.cases import (
    CaseFacts,
    check_step,
    clean_text,
    holds_id_number,
    is_overdue,
    steps_open_to,
)
from policies.review_rules import ReviewRulesError, load_review_rules, parse_review_rules

A, B = "officer-a", "officer-b"


def _case(state: str, reviewer: str | None = None, escalated_by: str | None = None,
          kind: str = "flag", actor_kind: str | None = "staff") -> CaseFacts:  # fmt: skip
    return CaseFacts(kind, state, actor_kind, reviewer, escalated_by)


def test_four_eyes_on_escalating_and_on_closing() -> None:
    reviewed = _case("in_review", reviewer=A)
    refused = check_step(reviewed, "escalate", A)
    assert refused is not None
    assert (refused.kind, refused.code) == ("forbidden", "four_eyes_escalation")
    assert check_step(reviewed, "escalate", B) is None
    escalated = _case("escalated", reviewer=A, escalated_by=B)
    closing = check_step(escalated, "close", B, "no_action")
    assert closing is not None
    assert closing.code == "four_eyes_closing"
    assert check_step(escalated, "close", A, "no_action") is None
    assert steps_open_to(reviewed, A) == ("note", "clear")
    assert steps_open_to(reviewed, B) == ("note", "escalate")


def test_steps_follow_the_states_and_outcomes_fit_the_case() -> None:
    wrong = check_step(_case("open"), "clear", A)
    assert wrong is not None
    assert (wrong.kind, wrong.code) == ("conflict", "wrong_state")
    not_reviewer = check_step(_case("in_review", reviewer=A), "clear", B)
    assert not_reviewer is not None
    assert not_reviewer.code == "not_reviewer"
    staff_case = _case("escalated", reviewer=A, escalated_by=B)
    suspend = check_step(staff_case, "close", A, "suspend_institution")
    assert suspend is not None
    assert suspend.code == "bad_outcome"
    bank_case = _case("escalated", reviewer=A, escalated_by=B, actor_kind="institution")
    assert check_step(bank_case, "close", A, "suspend_institution") is None
    lift = _case("escalated", reviewer=A, escalated_by=B, kind="lift_suspension")
    assert check_step(lift, "close", A, "lift_suspension") is None
    assert check_step(_case("closed"), "note", A) is not None


def test_overdue_is_after_the_deadline_while_the_case_is_active() -> None:
    deadline = date(2026, 10, 15)
    assert not is_overdue("open", deadline, date(2026, 10, 15))
    assert is_overdue("escalated", deadline, date(2026, 10, 16))
    assert not is_overdue("closed", deadline, date(2026, 12, 1))


def test_notes_are_plain_text_of_bounded_length() -> None:
    assert clean_text("  seen  ") == "seen"
    assert clean_text("line one\nline two") == "line one\nline two"
    assert clean_text("") is None
    assert clean_text("x" * 1001) is None
    assert clean_text("bell\x07") is None
    assert clean_text(42) is None


def test_a_note_holding_an_id_number_is_found() -> None:
    from policies.identifiers import make_citizen_id

    number = make_citizen_id("500103", date(1984, 6, 2), 17)
    assert holds_id_number(f"subject {number} called")
    assert holds_id_number(number.lower())
    assert not holds_id_number("order 500103198406020000 is not a valid number")
    assert not holds_id_number("ten denials in an hour")


def test_the_case_deadline_is_reviewed_data() -> None:
    assert load_review_rules().case_deadline_days == 10
    base = "schema = 1\n"
    assert parse_review_rules(base, source="t").case_deadline_days is None
    with_cases = parse_review_rules(base + "[cases]\ndeadline_working_days = 5\n", source="t")
    assert with_cases.case_deadline_days == 5
    assert with_cases.version != parse_review_rules(base, source="t").version
    for bad in ("deadline_working_days = 0", "deadline_working_days = 61", "days = 3"):
        with pytest.raises(ReviewRulesError, match=r"\[cases\]|cases"):
            parse_review_rules(base + "[cases]\n" + bad + "\n", source="t")
