"""The catalog: the shipped file, its version hash, and every refusal of the validator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies.catalog import (
    CATEGORIES,
    CatalogError,
    default_catalog,
    load_catalog,
    parse_catalog,
)
from tests.policies.catalog_texts import HEAD, OVERDUE, SHIPPED, loan, refused

# -- the shipped catalog ------------------------------------------------------------------------


def test_shipped_catalog_loads_with_at_least_twenty_types_across_all_categories() -> None:
    catalog = load_catalog()
    assert len(catalog.record_types) >= 20
    assert {rt.category for rt in catalog.record_types.values()} == set(CATEGORIES)
    for code, record_type in catalog.record_types.items():
        assert code.startswith(record_type.category + ".")
        assert record_type.fields


def test_shipped_catalog_covers_the_chongqing_plan() -> None:
    catalog = default_catalog()
    expected = {
        "A": {"identity", "residence", "education", "marital_status", "family_member"},
        "B": {"loan", "credit_card", "guarantee"},
        "C": {
            "employment",
            "job_change",
            "labour_contract",
            "social_insurance",
            "tax_payment",
            "utility_payment",
            "consumption_payment",
        },
        "D": {
            "labour_arbitration",
            "civil_judgment",
            "criminal_judgment",
            "penalty_general",
            "penalty_serious",
            "admin_licensing",
            "tax_evasion",
            "debt_evasion",
            "insurance_fraud",
            "dishonest_debtor",
        },
    }
    for category, names in expected.items():
        for name in names:
            assert catalog.require(f"{category}.{name}").category == category


def test_shipped_disclosure_classes_follow_the_plan() -> None:
    catalog = default_catalog()
    public = {"D.penalty_general", "D.penalty_serious", "D.admin_licensing", "D.dishonest_debtor"}
    assert {c for c, t in catalog.record_types.items() if t.disclosure == "public"} == public
    for code in ("C.social_insurance", "C.tax_payment", "D.civil_judgment"):
        assert catalog.require(code).disclosure == "archive"
    for code, record_type in catalog.record_types.items():
        if code[0] in "AB":
            assert record_type.disclosure == "restricted", code


def test_shipped_retention_rules_follow_the_law() -> None:
    catalog = default_catalog()
    for record_type in catalog.record_types.values():
        rule = record_type.retention
        if not record_type.negative:
            assert rule.kind in ("life_of_report", "permanent")
            continue
        assert rule.kind in ("after_end", "display_window", "until_end")
        if rule.kind == "after_end":
            assert rule.years == 5
        else:
            assert rule.destroy_years_after_end == 5
        assert record_type.requires_notice is (record_type.disclosure != "public")
    general = catalog.require("D.penalty_general").retention
    serious = catalog.require("D.penalty_serious").retention
    assert (general.min_months, general.max_months) == (3, 12)
    assert (serious.min_months, serious.max_months) == (6, 36)


def test_shipped_catalog_marks_consent_bound_and_sensitive_fields() -> None:
    catalog = default_catalog()
    wage = catalog.require("C.employment").field("monthly_wage_fen")
    assert wage.consent_required
    assert wage.sensitive
    assert wage.mask("archive") == "redact"
    assert catalog.require("C.tax_payment").field("amount_fen").consent_required
    identity = catalog.require("A.identity")
    assert identity.field("id_number").mask("institution") == "first6_last4"
    assert identity.field("name").mask("public") == "redact"
    assert identity.field("name").masks["self"] == "none"
    grid = catalog.require("B.loan").field("repayment_grid")
    assert grid.pattern is not None
    assert re.fullmatch(grid.pattern, "///*NNNN1NNN2NNNNNNNNNNC")


def test_lookups() -> None:
    catalog = default_catalog()
    assert catalog.get("Z.nothing") is None
    with pytest.raises(KeyError, match=r"Z\.nothing"):
        catalog.require("Z.nothing")
    assert not catalog.require("B.loan").has_field("nothing")
    with pytest.raises(KeyError):
        catalog.require("B.loan").field("nothing")


def test_catalog_objects_are_immutable() -> None:
    catalog = default_catalog()
    with pytest.raises(AttributeError):
        catalog.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        catalog.record_types["X.y"] = catalog.require("B.loan")  # type: ignore[index]


# -- the version hash ---------------------------------------------------------------------------


def test_version_is_a_stable_sha256() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    first = parse_catalog(text, source="a")
    again = parse_catalog(text, source="b")
    assert re.fullmatch(r"[0-9a-f]{64}", first.version)
    assert first.version == again.version == load_catalog().version


def test_version_ignores_comments_whitespace_and_record_order(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    stripped = "\n\n".join(
        line.rstrip() + "   " for line in text.splitlines() if not line.startswith("#")
    )
    assert parse_catalog(stripped, source="x").version == parse_catalog(text, source="y").version
    forward = parse_catalog(HEAD + loan() + OVERDUE, source="x").version
    backward = parse_catalog(HEAD + OVERDUE + loan(), source="x").version
    assert forward == backward


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('title = "Outstanding balance (fen)"', 'title = "Balance (fen)"'),
        ('name = "balance_fen"', 'name = "remaining_fen"'),
        ("years = 5", "years = 4"),
        ('pattern = "[A-Z0-9]{8,24}"', 'pattern = "[A-Z0-9]{8,20}"'),
        ('mask = { institution = "first6_last4" }', 'mask = { institution = "last4" }'),
    ],
)
def test_version_changes_when_meaning_changes(old: str, new: str) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    changed = parse_catalog(text.replace(old, new, 1), source="x")
    assert changed.version != parse_catalog(text, source="x").version


def test_explicit_defaults_do_not_change_the_version() -> None:
    plain = parse_catalog(HEAD + loan(), source="x")
    explicit = parse_catalog(HEAD + loan(extra="required = true\nsensitive = true"), source="x")
    assert plain.version == explicit.version


# -- refusals: each names the file, the record type and the field -------------------------------


def test_the_documented_example_message(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + loan(type="float"))
    assert "catalog.toml: record_type 'B.loan' field 'rate': unknown type 'float'" in message


FIELD_REFUSALS = [
    ({"extra": 'colour = "red"'}, "unknown key 'colour'"),
    ({"type": "enum"}, "needs a non-empty 'values' list"),
    ({"type": "enum", "extra": 'values = ["a", "a"]'}, "duplicate"),
    ({"extra": 'values = ["a"]'}, "only enum fields take 'values'"),
    ({"extra": '[record_type.field.mask]\npublic = "blur"'}, "unknown mask kind 'blur'"),
    ({"extra": '[record_type.field.mask]\npartner = "none"'}, "unknown key 'partner'"),
    ({"extra": '[record_type.field.mask]\nself = "year_only"'}, "does not apply to a integer"),
    ({"extra": 'sensitive = "yes"'}, "'sensitive' must be true or false"),
    ({"extra": 'pattern = "[0-9]+"'}, "only string fields take a 'pattern'"),
    ({"type": "string", "extra": 'pattern = "[0-9"'}, "not a valid regular expression"),
    ({"extra": "min = 5\nmax = 1"}, "'min' exceeds 'max'"),
    ({"type": "date", "extra": "min = 1"}, "only integer fields take 'min' and 'max'"),
    ({"type": "id_number", "extra": "sensitive = false"}, "always sensitive"),
    (
        {"type": "string", "extra": '[record_type.field.mask]\npublic = "none"'},
        "cannot be shown unmasked to the public tier",
    ),
    ({"name": "Rate"}, "snake_case"),
]


@pytest.mark.parametrize(("args", "problem"), FIELD_REFUSALS)
def test_field_refusals_name_file_record_and_field(
    tmp_path: Path, args: dict[str, str], problem: str
) -> None:
    message = refused(tmp_path, HEAD + loan(**args))
    assert f"record_type 'B.loan' field '{args.get('name', 'rate')}'" in message
    assert problem in message


def test_duplicate_field_names(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + loan(name="lender", type="string"))
    assert "record_type 'B.loan' field 'lender': duplicate field name" in message


def test_duplicate_record_type_codes(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + loan() + loan())
    assert "record_type 'B.loan': duplicate record type code" in message


RECORD_REFUSALS = [
    ('category = "B"', 'category = "E"', "unknown category 'E'"),
    ('category = "B"', 'category = "C"', "code prefix 'B' does not match category 'C'"),
    ('disclosure = "restricted"', 'disclosure = "secret"', "unknown disclosure 'secret'"),
    ('retention = "life_of_report"', 'retention = "forever"', "names no [retention.forever]"),
    ('title_zh = "贷款"', 'title_zh = "贷款"\nowner = "bank"', "unknown key 'owner'"),
    (
        'title_zh = "贷款"',
        'title_zh = "贷款"\nrequires_notice = true',
        "negative record types only",
    ),
    (
        'title_zh = "贷款"',
        'title_zh = "贷款"\nnegative = true',
        "needs a retention rule that ends",
    ),
]


@pytest.mark.parametrize(("old", "new", "problem"), RECORD_REFUSALS)
def test_record_type_refusals_name_file_and_record(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    message = refused(tmp_path, HEAD + loan().replace(old, new, 1))
    assert "record_type 'B.loan'" in message
    assert problem in message


def test_negative_information_needs_prior_notice_unless_public(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + OVERDUE.replace("requires_notice = true", ""))
    assert "record_type 'B.overdue': negative information not public by law" in message
    public = OVERDUE.replace("requires_notice = true", "").replace("restricted", "public")
    assert parse_catalog(HEAD + public, source="x").require("B.overdue").negative


def test_malformed_code(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + loan().replace('code = "B.loan"', 'code = "loan"', 1))
    assert "record_type 'loan': a code is '<category>.<snake_name>'" in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (HEAD.replace("schema = 1", "schema = 2") + loan(), "only catalog schema 1"),
        (HEAD + 'owner = "x"\n' + loan(), "unknown key 'owner'"),
        (HEAD + "[[record_type]\n", "not valid TOML"),
        (HEAD, "declares no [[record_type]]"),
        (HEAD.replace('title = "Test catalog"\n', "") + loan(), "missing key 'title'"),
    ],
)
def test_top_level_refusals_name_the_file(tmp_path: Path, text: str, problem: str) -> None:
    assert problem in refused(tmp_path, text)


def test_retention_rule_refusals_name_the_rule(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD.replace("years = 5", "") + loan())
    assert "retention 'negative_5y': kind 'after_end' needs years" in message
    message = refused(tmp_path, HEAD.replace('kind = "after_end"', 'kind = "soon"') + loan())
    assert "retention 'negative_5y': unknown kind 'soon'" in message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "missing.toml")
