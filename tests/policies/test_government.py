"""Government and administrative queriers as reviewed data: purposes -> categories, the
regulations a legal basis may cite, the legal basis's format, and the engine's decisions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from policies.actions import Action
from policies.catalog import default_catalog
from policies.decision import Caller, LegalBasisFacts, Outcome, Target
from policies.engine import SUBJECT_TYPE, PolicyEngine
from policies.government import (
    GovernmentError,
    LegalBasis,
    load_government,
    parse_government,
    parse_legal_basis,
)
from policies.policy_data import load_policy

ON = date(2026, 3, 1)
CATALOG = default_catalog()
GOVERNMENT = load_government()
ENGINE = PolicyEngine(load_policy(), CATALOG, GOVERNMENT)
AGENCY = Caller("institution", frozenset({"oauth"}), scopes=frozenset({"government:report:query"}))
BANK = Caller("institution", frozenset({"oauth"}), scopes=frozenset({"institution:report:query"}))
TEXT = Path("policies/data/government.toml").read_text(encoding="utf-8")


def _target(purpose: str, regulation: str, registered: set[str]) -> Target:
    facts = LegalBasisFacts(regulation=regulation, registered_purposes=frozenset(registered))
    return Target(relation="other", purpose=purpose, legal_basis=facts)


@pytest.mark.parametrize(
    ("purpose", "categories"),
    [
        ("title_assessment", {"A", "C", "D"}),
        ("tender_review", {"A", "D"}),
        ("government_procurement", {"A", "D"}),
        ("civil_service_hiring", {"A", "C", "D"}),
        ("subsidised_housing", {"A", "B", "C", "D"}),
    ],
)
def test_each_seed_purpose_releases_its_categories_only(purpose: str, categories: set[str]) -> None:
    assert GOVERNMENT.purposes[purpose].categories == categories
    regulation = sorted(GOVERNMENT.purposes[purpose].regulations)[0]
    decision = ENGINE.decide(
        AGENCY, Action.GOVERNMENT_REPORT_QUERY, _target(purpose, regulation, {purpose}), on=ON
    )
    assert decision.allowed, decision
    obligations = decision.obligations
    assert obligations is not None
    assert obligations.purpose == purpose
    assert obligations.fee.amount_fen == 0  # an administrative query costs nothing
    assert obligations.tier == "institution"  # masked as institution reports
    released = {CATALOG.record_types[code].category for code in obligations.record_types}
    assert released
    assert released <= categories
    for (code, name), kind in obligations.masks.items():
        if code != SUBJECT_TYPE:
            field = next(f for f in CATALOG.record_types[code].fields if f.name == name)
            assert kind == field.mask("institution")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (Target(relation="other", purpose="tender_review"), "no_legal_basis"),
        (_target("marketing", "joint_credit_measures", {"marketing"}), "purpose_not_listed"),
        (_target("tender_review", "joint_credit_measures", {"title_assessment"}),
         "purpose_not_registered"),
        (_target("tender_review", "public_rental_housing", {"tender_review"}),
         "legal_basis_not_for_purpose"),
    ],
)  # fmt: skip
def test_a_query_outside_what_the_basis_and_registration_cover_is_denied(
    target: Target, reason: str
) -> None:
    decision = ENGINE.decide(AGENCY, Action.GOVERNMENT_REPORT_QUERY, target, on=ON)
    assert decision.outcome is Outcome.DENY
    assert decision.reason == reason
    assert "government-report-on-legal-basis" in decision.rule_ids


def test_a_bank_cannot_query_as_government_nor_an_agency_as_a_bank() -> None:
    target = _target("tender_review", "bidding_law_regulations", {"tender_review"})
    assert (
        ENGINE.decide(BANK, Action.GOVERNMENT_REPORT_QUERY, target, on=ON).outcome is Outcome.DENY
    )
    decision = ENGINE.decide(AGENCY, Action.INSTITUTION_REPORT_QUERY, target, on=ON)
    assert decision.outcome is Outcome.DENY


def test_every_purpose_may_cite_the_joint_credit_measures() -> None:
    for purpose in GOVERNMENT.purposes.values():
        assert "joint_credit_measures" in purpose.regulations


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "tender_review:123",
        {"regulation": "bidding_law_regulations"},
        {"regulation": "bidding_law_regulations", "reference": 12},
        {"regulation": "bidding_law_regulations", "reference": "1", "extra": "x"},
        {"regulation": "no_such_law", "reference": "渝招〔2026〕1号"},
        {"regulation": "bidding_law_regulations", "reference": ""},
        {"regulation": "bidding_law_regulations", "reference": "1" * 101},
        {"regulation": "bidding_law_regulations", "reference": " 渝招〔2026〕1号"},
        {"regulation": "bidding_law_regulations", "reference": "渝招\n1号"},
        {"regulation": "bidding_law_regulations", "reference": "<script>1"},
        {"regulation": "bidding_law_regulations", "reference": "渝招〔〕号"},  # no number
    ],
)
def test_a_malformed_legal_basis_is_refused_without_echoing_it(raw: object) -> None:
    problem = parse_legal_basis(raw, GOVERNMENT)
    assert isinstance(problem, str)
    assert "script" not in problem
    assert "no_such_law" not in problem


def test_a_well_formed_legal_basis_is_kept_as_regulation_and_reference() -> None:
    raw = {"regulation": "government_procurement_law", "reference": "渝财采〔2026〕15号 No. 3"}
    basis = parse_legal_basis(raw, GOVERNMENT)
    assert basis == LegalBasis("government_procurement_law", "渝财采〔2026〕15号 No. 3")
    assert basis.reference_text == "government_procurement_law:渝财采〔2026〕15号 No. 3"
    longest = max(map(len, GOVERNMENT.regulations)) + 1 + GOVERNMENT.reference_max_length
    assert longest <= 160  # what the log's column holds


def test_the_version_follows_meaning_and_reaches_the_engine() -> None:
    again = parse_government("# a comment\n" + TEXT, source="x")
    assert again.version == GOVERNMENT.version
    changed = parse_government(
        TEXT.replace('categories = ["A", "D"]', 'categories = ["D"]', 1), source="x"
    )
    assert changed.version != GOVERNMENT.version
    assert PolicyEngine(load_policy(), CATALOG, changed).version != ENGINE.version


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('regulations = ["bidding_law_regulations"', 'regulations = ["no_such"', "not declared"),
        ('categories = ["A", "D"]', 'categories = ["A", "Z"]', "unknown category"),
        ("reference_max_length = 100", "reference_max_length = 500", "reference_max_length"),
        ('code = "tender_review"', 'code = "title_assessment"', "duplicate purpose"),
        ("[legal_basis]", "[legal_basis]\nsurprise = 1", "unknown key"),
    ],
)
def test_invalid_data_is_refused_naming_the_table(old: str, new: str, problem: str) -> None:
    assert old in TEXT
    with pytest.raises(GovernmentError, match=problem):
        parse_government(TEXT.replace(old, new, 1), source="bad.toml")
