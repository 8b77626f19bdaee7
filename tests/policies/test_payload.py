"""Payload validation against the shipped catalog: normalised output, refusals without values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from policies.catalog import PayloadError, default_catalog, validate_payload
from policies.identifiers import make_citizen_id

TODAY = date(2025, 6, 15)
SECRET = "SECRET-VALUE-7319"


def loan(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "lender": "  两江商业银行重庆分行 ",
        "account_ref": "LN00012345678901",
        "loan_kind": "mortgage",
        "principal_fen": 80_000_000,
        "term_months": 240,
        "maturity_date": "2043-03-01",
        "monthly_installment_fen": 500_000,
        "balance_fen": 70_000_000,
        "status": "open",
        "report_month": "2025-05",
        "repayment_grid": "NNNNNNNNNNNNNNNNNNNN1NNN",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def check(code: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, object]:
    return validate_payload(default_catalog().require(code), payload, today=TODAY, **kwargs)


def refusal(code: str, payload: dict[str, Any], **kwargs: Any) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        check(code, payload, **kwargs)
    assert caught.value.record_type == code
    assert f"record type '{code}'" in str(caught.value)
    return caught.value


def test_valid_payload_is_normalised() -> None:
    result = check("B.loan", loan(maturity_date=date(2043, 3, 1)))
    assert result["lender"] == "两江商业银行重庆分行"
    assert result["maturity_date"] == "2043-03-01"
    assert result == check("B.loan", result)  # normalising twice changes nothing
    assert result is not loan()


def test_optional_fields_may_be_absent_or_none() -> None:
    result = check("B.loan", loan(monthly_installment_fen=None))
    assert "monthly_installment_fen" not in result
    assert "monthly_installment_fen" not in check("B.loan", loan(monthly_installment_fen=...))


def test_identifiers_are_validated_and_normalised() -> None:
    spouse = make_citizen_id("500103", date(1988, 2, 3), 124)
    result = check(
        "A.marital_status",
        {"status": "married", "spouse_name": "李娜", "spouse_id_number": f" {spouse.lower()} "},
    )
    assert result["spouse_id_number"] == spouse
    code = check(
        "C.employment",
        {"employer": "x", "employer_credit_code": "91350100m000100y43", "employer_kind": "private"},
    )
    assert code["employer_credit_code"] == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"lender": ...}, "lender", "is required"),
        ({"colour": "red"}, "colour", "is not declared in the catalog"),
        ({"principal_fen": True}, "principal_fen", "expected an integer amount in fen"),
        ({"principal_fen": "100"}, "principal_fen", "expected an integer amount in fen"),
        ({"principal_fen": 1.5}, "principal_fen", "expected an integer amount in fen"),
        ({"principal_fen": -1}, "principal_fen", "between 0 and 10^15"),
        ({"term_months": 0}, "term_months", "below the minimum 1"),
        ({"term_months": 481}, "term_months", "above the maximum 480"),
        ({"term_months": False}, "term_months", "expected an integer"),
        ({"loan_kind": "yacht"}, "loan_kind", "is not one of the declared values"),
        ({"maturity_date": "2043/03/01"}, "maturity_date", "YYYY-MM-DD"),
        ({"maturity_date": "20430301"}, "maturity_date", "YYYY-MM-DD"),
        ({"maturity_date": "2023-02-29"}, "maturity_date", "not a real calendar date"),
        ({"maturity_date": datetime(2043, 3, 1)}, "maturity_date", "YYYY-MM-DD"),
        ({"report_month": "2025-13"}, "report_month", "not a real month"),
        ({"report_month": "2025-5"}, "report_month", "YYYY-MM"),
        ({"repayment_grid": "NNNN"}, "repayment_grid", "declared format"),
        ({"repayment_grid": "NNNNNNNNNNNNNNNNNNNNNNNX"}, "repayment_grid", "declared format"),
        ({"lender": ""}, "lender", "must not be empty"),
        ({"lender": "a\x00b"}, "lender", "control characters"),
        ({"lender": "a\nb"}, "lender", "control characters"),
        ({"lender": "x" * 201}, "lender", "longer than 200"),
        ({"lender": 5}, "lender", "expected a string"),
    ],
)
def test_refusals_name_record_type_and_field(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    error = refusal("B.loan", loan(**changes))
    assert error.field == field
    assert f"field '{field}'" in str(error)
    assert reason in str(error)


def test_text_fields_allow_newlines_but_not_other_control_characters() -> None:
    base = {"address": "重庆市渝中区\n解放碑路1号", "region_code": "500103"}
    assert check("A.residence", base)["address"] == "重庆市渝中区\n解放碑路1号"
    assert refusal("A.residence", dict(base, address="a\x07b")).field == "address"


@pytest.mark.parametrize(
    ("code", "payload", "field"),
    [
        (
            "A.identity",
            {
                "name": "x",
                "sex": "M",
                "birth_date": "1990-01-01",
                "household_address": "x",
                "id_number": "11010519491231002" + "1",
            },
            "id_number",
        ),
        (
            "C.employment",
            {
                "employer": "x",
                "employer_credit_code": "91350100M000100Y44",
                "employer_kind": "other",
            },
            "employer_credit_code",
        ),
    ],
)
def test_invalid_identifiers_are_refused_with_the_part(
    code: str, payload: dict[str, Any], field: str
) -> None:
    error = refusal(code, payload)
    assert error.field == field
    assert "(check_character)" in str(error)
    assert payload[field] not in str(error)


def test_consent_bound_fields_need_recorded_consent() -> None:
    payload = {
        "employer": "x",
        "employer_credit_code": "91350100M000100Y43",
        "employer_kind": "private",
        "monthly_wage_fen": 800_000,
    }
    error = refusal("C.employment", payload)
    assert error.field == "monthly_wage_fen"
    assert "recorded written consent" in str(error)
    assert check("C.employment", payload, consent_recorded=True)["monthly_wage_fen"] == 800_000


@pytest.mark.parametrize(
    "changes",
    [
        {"lender": SECRET + "\x00"},
        {"loan_kind": SECRET},
        {"maturity_date": SECRET},
        {"report_month": SECRET},
        {"repayment_grid": SECRET},
        {"principal_fen": SECRET},
        {"lender": SECRET * 20},
    ],
)
def test_no_refusal_contains_the_value(changes: dict[str, Any]) -> None:
    assert SECRET not in str(refusal("B.loan", loan(**changes)))


def test_unknown_keys_are_named_only_when_shaped_like_field_names() -> None:
    error = refusal("B.loan", loan(**{"11010519491231002X": "x"}))
    assert error.field is None
    assert "11010519491231002X" not in str(error)
