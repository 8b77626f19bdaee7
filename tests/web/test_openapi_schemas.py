"""The document's request schemas state what the server enforces: the identifier patterns are
the ones built from the parsers' own tables, every identifier a parser accepts matches its
pattern, the closed purpose list is the policy's, and values the server refuses on sight (an
empty username, "0" or 000000000000000000 as an ID number) are invalid in the document too."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from policies.identifier_patterns import citizen_id_pattern, credit_code_pattern
from policies.identifiers import (
    REGISTRATION_AUTHORITIES,
    make_citizen_id,
    make_credit_code,
    organisation_code_check_char,
)
from policies.policy_data import load_policy
from policies.regions import PREFECTURE_PARTS, PROVINCE_PREFIXES, UNDIVIDED_PREFIXES
from tests.openapi_check import spec
from tests.openapi_strategies import inline

GB_SAMPLE = "440524188001010014"


def _component(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec()["components"]["schemas"][name]
    return schema


def _body(path: str, method: str = "post") -> Draft202012Validator:
    content = spec()["paths"][path][method]["requestBody"]["content"]["application/json"]
    return Draft202012Validator(inline(content["schema"]))


def test_the_identifier_patterns_are_the_parsers_own() -> None:
    assert _component("CitizenIdNumber")["pattern"] == citizen_id_pattern()
    assert _component("CreditCode")["pattern"] == credit_code_pattern()


def test_the_purpose_list_is_the_policys() -> None:
    assert _component("Purpose")["enum"] == sorted(load_policy().purposes)


def test_the_government_lists_are_the_government_datas() -> None:
    from policies.government import load_government

    government = load_government()
    assert _component("GovernmentPurpose")["enum"] == sorted(government.purposes)
    assert _component("Regulation")["enum"] == sorted(government.regulations)
    reference = _component("LegalBasis")["properties"]["reference"]
    assert reference["maxLength"] == government.reference_max_length


regions = st.one_of(
    st.builds(
        lambda province, part, county: f"{province}{part}{county:02d}",
        st.sampled_from(sorted(PROVINCE_PREFIXES - UNDIVIDED_PREFIXES)),
        st.sampled_from(sorted(PREFECTURE_PARTS)),
        st.integers(0, 99),
    ),
    st.sampled_from(sorted(UNDIVIDED_PREFIXES)).map(lambda province: province + "0000"),
)


@given(regions, st.dates(min_value=date(1, 1, 1)), st.integers(1, 999))
def test_every_well_formed_citizen_id_matches_the_pattern(
    region: str, born: date, sequence: int
) -> None:
    number = make_citizen_id(region, born, sequence)
    assert re.fullmatch(citizen_id_pattern(), number)
    assert re.fullmatch(citizen_id_pattern(), number.lower())


@given(
    st.sampled_from(
        [
            (authority.code, type_code)
            for authority in REGISTRATION_AUTHORITIES.values()
            for type_code, _ in authority.organisation_types
        ]
    ),
    st.one_of(
        st.builds(
            lambda province, rest: f"{province}{rest:04d}",
            st.sampled_from(sorted(PROVINCE_PREFIXES)),
            st.integers(0, 9999),
        ),
        st.just("100000"),
    ),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
)
def test_every_valid_credit_code_matches_the_pattern(
    kind: tuple[str, str], region: str, body: str
) -> None:
    try:
        organisation_code_check_char(body)
    except ValueError:
        return  # no organisation code has this body
    code = make_credit_code(kind[0], kind[1], region, body)
    assert re.fullmatch(credit_code_pattern(), code)


def test_the_standards_sample_number_is_valid_in_the_document() -> None:
    assert _body("/api/v1/archive/orders").is_valid({"id_number": GB_SAMPLE})


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/challenge", {"username": ""}),
        ("/api/v1/auth/challenge", {"username": "has space"}),
        ("/api/v1/auth/challenge", {"username": "x" * 65}),
        ("/api/v1/auth/staff/login", {"username": "", "password": "p", "otp": "1"}),
        ("/api/v1/archive/orders", {"id_number": "0"}),
        ("/api/v1/archive/orders", {"id_number": "000000000000000000"}),
        ("/api/v1/archive/orders", {"id_number": "110105194912310000"}),  # sequence 000
        ("/api/v1/archive/orders", {"id_number": "11010519491331002X"}),  # month 13
        ("/api/v1/public/lists/search", {"id_number": "000000000000000000"}),
        ("/api/v1/public/lists/search", {"name": "   "}),
        (
            "/api/v1/institution/reports",
            {"id_number": GB_SAMPLE, "purpose": "marketing", "consent_token": "a.b.c"},
        ),
        (
            "/api/v1/institution/reports",
            {"id_number": "0", "purpose": "loan_approval", "consent_token": "a.b.c"},
        ),
        ("/api/v1/self/consents", {"token": "not a token"}),
        ("/api/v1/auth/totp/confirm", {"otp": "123456"}),  # the field is `code`
        ("/api/v1/billing/orders/{order_id}/refund", {"reason": " "}),
    ],
)
def test_values_the_server_refuses_on_sight_are_invalid_in_the_document(
    path: str, body: dict[str, Any]
) -> None:
    assert not _body(path).is_valid(body)
