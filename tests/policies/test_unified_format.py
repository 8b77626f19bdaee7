"""The unified intake format, row by row (pure: no database, no keys)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from policies.catalog import default_catalog
from policies.identifiers import make_citizen_id, make_credit_code
from policies.intake_rules import IntakeRulesError, default_intake_rules, parse_intake_rules
from policies.unified_format import (
    ConsentLine,
    RecordLine,
    RowError,
    WithdrawLine,
    check_row,
    csv_row,
)

CATALOG = default_catalog()
RULES = default_intake_rules()
TODAY = date(2026, 12, 4)
PROVIDER = make_credit_code("1", "1", "500000", "12345678")
PERSON = {"id_number": make_citizen_id("500103", date(1980, 1, 2), 7), "name": "张 三"}


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "op": "add",
        "provider": PROVIDER,
        "record_id": "R-1",
        "type": "B.overdue",
        "subject": PERSON,
        "occurred_on": "2026-03-01",
        "notice": {"notified_on": "2026-03-20", "channel": "sms"},
        "fields": {
            "creditor": "招商银行",
            "account_kind": "loan",
            "account_ref": "LN12345678",
            "overdue_amount_fen": 5000,
            "max_days_overdue": 40,
            "status": "outstanding",
        },
    }
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def _check(value: object) -> Any:
    return check_row(7, value, catalog=CATALOG, rules=RULES, today=TODAY)


def test_a_good_row_is_normalised() -> None:
    line = _check(_row(provider=PROVIDER.lower()))
    assert isinstance(line, RecordLine)
    assert line.provider == PROVIDER
    assert line.subject.name == "张 三"
    assert line.notice == (date(2026, 3, 20), "sms")
    assert line.display_until is None  # not ended yet: shown
    assert line.payload["overdue_amount_fen"] == 5000


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"op": "upsert"}, "op", "format.unknown_op"),
        ({"op": None}, "op", "format.missing"),
        ({"record_id": None}, "record_id", "format.missing"),
        ({"record_id": "has space"}, "record_id", "format.bad_value"),
        ({"religion": "x"}, "religion", "law.prohibited_collection"),
        ({"colour": "x"}, "colour", "format.unknown_key"),
        ({"provider": "91500000MA00000000"}, "provider", "identifier.credit_code"),
        (
            {"subject": {"id_number": "1", "name": "x"}},
            "subject.id_number",
            "identifier.citizen_id",
        ),
        (
            {"subject": {"id_number": PERSON["id_number"], "name": " "}},
            "subject.name",
            "format.bad_value",
        ),
        ({"occurred_on": "2027-01-01"}, "occurred_on", "retention.dates"),
        ({"occurred_on": "2026-02-30"}, "occurred_on", "format.bad_value"),
        ({"ended_on": "2026-01-01"}, "ended_on", "retention.dates"),
        ({"notice": None}, "notice", "law.prior_notice"),
        (
            {"notice": {"notified_on": "2026-12-05", "channel": "sms"}},
            "notice.notified_on",
            "law.prior_notice",
        ),
        (
            {"notice": {"notified_on": "2026-03-20", "channel": "pigeon"}},
            "notice.channel",
            "law.prior_notice",
        ),
        ({"type": "B.crystal_ball"}, "type", "catalog.unknown_type"),
        ({"op": "correct"}, "reason", "format.missing"),
        ({"op": "correct", "reason": "whim"}, "reason", "format.bad_value"),
    ],
)
def test_each_problem_names_its_field_and_rule(
    changes: dict[str, Any], field: str, rule: str
) -> None:
    refused = _check(_row(**changes))
    assert isinstance(refused, RowError)
    assert (refused.row, refused.field, refused.rule) == (7, field, rule)
    for key, value in changes.items():
        if key != "op" and isinstance(value, str) and len(value) > 3:
            assert value not in refused.message


def test_field_problems_name_the_field() -> None:
    fields = _row()["fields"]
    cases = {
        "fields.max_days_overdue": ({**fields, "max_days_overdue": 0}, "catalog.field"),
        "fields.genome": ({**fields, "genome": "ACGT"}, "law.prohibited_collection"),
        "fields.colour": ({**fields, "colour": "red"}, "catalog.undeclared_field"),
        "fields.status": ({k: v for k, v in fields.items() if k != "status"}, "catalog.field"),
    }
    for field, (payload, rule) in cases.items():
        refused = _check(_row(fields=payload))
        assert isinstance(refused, RowError)
        assert (refused.field, refused.rule) == (field, rule)
        assert "ACGT" not in refused.message


def test_consent_bound_fields_need_a_consent_reference() -> None:
    row = {
        "op": "add", "provider": PROVIDER, "record_id": "W-1", "type": "C.employment",
        "subject": PERSON, "occurred_on": "2020-01-01",
        "fields": {"employer": "某公司", "employer_credit_code": PROVIDER,
                   "employer_kind": "private", "monthly_wage_fen": 900_000},
    }  # fmt: skip
    refused = _check(row)
    assert isinstance(refused, RowError)
    assert (refused.field, refused.rule) == ("fields.monthly_wage_fen", "law.consent_required")
    line = _check({**row, "consent_ref": "CN-1"})
    assert isinstance(line, RecordLine)
    assert line.consent_concepts == frozenset({"income"})


def test_withdraw_and_consent_rows() -> None:
    withdraw = _check(
        {"op": "withdraw", "provider": PROVIDER, "record_id": "R-1", "reason": "duplicate"}
    )
    assert isinstance(withdraw, WithdrawLine)
    bad = _check({"op": "withdraw", "provider": PROVIDER, "record_id": "R-1", "reason": "whim"})
    assert isinstance(bad, RowError)
    assert (bad.field, bad.rule) == ("reason", "format.bad_value")
    consent = {
        "op": "consent", "provider": PROVIDER, "consent_ref": "CN-1", "subject": PERSON,
        "signed_on": "2026-01-01", "concepts": ["income", "tax_amount"],
    }  # fmt: skip
    line = _check(consent)
    assert isinstance(line, ConsentLine)
    assert line.concepts == frozenset({"income", "tax_amount"})
    refused = _check({**consent, "concepts": ["religion"]})
    assert isinstance(refused, RowError)
    assert refused.field == "concepts"


def test_csv_cells_become_the_same_row() -> None:
    header = ["op", "provider", "record_id", "type", "id_number", "name", "occurred_on",
              "notified_on", "notice_channel", "fields.creditor", "fields.account_kind",
              "fields.account_ref", "fields.overdue_amount_fen", "fields.max_days_overdue",
              "fields.status"]  # fmt: skip
    cells = ["add", PROVIDER, "R-1", "B.overdue", PERSON["id_number"], "张 三",
             "2026-03-01", "2026-03-20", "sms", "招商银行", "loan", "LN12345678", "5000",
             "40", "outstanding"]  # fmt: skip
    value = csv_row(header, cells, CATALOG)
    assert isinstance(_check(value), RecordLine)
    assert value is not None
    assert value["fields"]["overdue_amount_fen"] == 5000
    assert csv_row(header, cells[:-1], CATALOG) is None


def test_the_rules_file_must_declare_exactly_the_rules_the_code_names() -> None:
    from importlib import resources

    text = resources.files("policies").joinpath("data", "intake.toml").read_text(encoding="utf-8")
    missing = text.replace('[rule."law.prior_notice"]', '[rule."law.prior_notice_x"]')
    with pytest.raises(IntakeRulesError, match=r"law\.prior_notice"):
        parse_intake_rules(missing, source="intake.toml")
    with pytest.raises(IntakeRulesError, match="only intake schema 1"):
        parse_intake_rules(text.replace("schema = 1", "schema = 2"), source="intake.toml")
    rules = parse_intake_rules(text, source="intake.toml")
    assert "registered_mail" in rules.notice_channels
    assert rules.rule("law.prohibited_collection").basis.startswith("征信业管理条例")
