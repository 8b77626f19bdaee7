"""The policy data: loaded and validated at start-up, versioned by meaning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies.actions import Action
from policies.decision import Strength
from policies.policy_data import PolicyError, load_policy, parse_policy

PACKAGED = Path(__file__).resolve().parents[2] / "policies" / "data" / "policy.toml"
TEXT = PACKAGED.read_text(encoding="utf-8")


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_policy(text, source="test.toml")


def test_the_packaged_policy_lists_every_action_with_a_strength() -> None:
    policy = load_policy()
    assert set(policy.actions) == set(Action)
    assert all(isinstance(spec.strength, Strength) for spec in policy.actions.values())
    assert re.fullmatch(r"[0-9a-f]{64}", policy.version)


def test_the_figures_of_law_are_in_the_data() -> None:
    policy = load_policy()
    assert policy.limits.free_self_reports_per_year == 2
    assert policy.fees["self_report"].amount_fen == 1000  # 10 yuan (2016 counter rule)
    assert policy.limits.archive_download_days == 7
    assert policy.limits.consent_max_days == 90


def test_version_ignores_comments_whitespace_and_table_order() -> None:
    reformatted = "# a new comment\n\n" + TEXT.replace(" = ", "   =   ")
    head, *purposes = TEXT.split("\n[[purpose]]\n")
    purposes[-1] += "\n"
    reordered = head + "".join("\n[[purpose]]\n" + p for p in reversed(purposes))
    assert parse(reformatted).version == load_policy().version
    assert parse(reordered).version == load_policy().version


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("amount_fen = 1000", "amount_fen = 1100"),
        ('categories = ["A", "D"]', 'categories = ["A", "C", "D"]'),
        ('id = "staff-never-query"', 'id = "staff-never-queries"'),
        ("consent_max_uses = 10", "consent_max_uses = 11"),
    ],
)
def test_any_change_of_meaning_changes_the_version(old: str, new: str) -> None:
    assert old in TEXT
    assert parse(TEXT.replace(old, new, 1)).version != load_policy().version


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('strength = "staff_totp"', 'strength = "password"', "unknown strength 'password'"),
        ('[actions."self:order:read"]', '[actions."self:order:write"]', "unknown action"),
        ('callers = ["payment_provider"]', 'callers = ["robot"]', "unknown caller kind"),
        ('categories = ["A", "D"]', 'categories = ["A", "E"]', "unknown category 'E'"),
        ('actions = ["service:*"]', 'actions = ["admin:*"]', "unknown action or tier pattern"),
        ('effect = "allow"', 'effect = "permit"', "unknown effect"),
        ('conditions = ["consent"]', 'conditions = ["weekday"]', "unknown condition"),
        ('relations = ["own"]', 'relations = ["family"]', "unknown relation"),
        ('tier = "public"', 'tier = "vip"', "unknown tier"),
        ('fee = "archive_report"', 'fee = "gold"', "unknown fee"),
        ("free_per_year = 2", "free_per_yer = 2", "unknown key 'free_per_yer'"),
        ("\n[limits]\n", "\n[limits]\nsurprise = 1\n", "unknown key 'surprise'"),
        ("consent_max_days = 90", "consent_max_days = 0", "positive integer"),
        ("amount_fen = 2000", "amount_fen = -1", ">= 0"),
        ('id = "login-open"', 'id = "service-open"', "duplicate rule id"),
        ('code = "tenancy_screening"', 'code = "loan_approval"', "duplicate purpose code"),
        ('id_number = "first6_last4"', 'id_number = "peek"', "unknown mask kind"),
        ("\nschema = 1", "\nschema = 2", "only policy schema 1"),
        ('reason = "own_session"', 'reason = "Own Session"', "snake_case"),
    ],
)
def test_invalid_data_is_refused_naming_the_place(old: str, new: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(PolicyError, match=re.escape(message)) as caught:
        parse(TEXT.replace(old, new, 1))
    assert str(caught.value).startswith("test.toml")


def test_a_releasing_action_must_name_its_tier() -> None:
    text = TEXT.replace('tier = "archive"\nreleases = true', "releases = true", 1)
    with pytest.raises(PolicyError, match="names its mask tier"):
        parse(text)


def test_a_missing_tier_table_is_refused() -> None:
    start = TEXT.index("[tiers.archive]")
    end = TEXT.index("[tiers.institution]")
    with pytest.raises(PolicyError, match=r"\[tiers.archive\]: missing"):
        parse(TEXT[:start] + TEXT[end:])


def test_broken_toml_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse(TEXT + "\n[[rule]\n")
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "absent.toml")
