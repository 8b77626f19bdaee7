"""Citizen ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.identifiers import (
    CREDIT_CODE_CHARSET,
    PROVINCE_PREFIXES,
    REGISTRATION_AUTHORITIES,
    ImplausibleIdentifier,
    InvalidIdentifier,
    citizen_id_check_char,
    credit_code_check_char,
    make_citizen_id,
    make_credit_code,
    organisation_code_check_char,
    parse_citizen_id,
    parse_credit_code,
    parse_living_citizen_id,
)
from policies.regions import PREFECTURE_PARTS, UNDIVIDED_PREFIXES

TODAY = date(2025, 6, 15)


def _with_check(first17: str) -> str:
    return first17 + citizen_id_check_char(first17)


def _credit_with_check(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def _no_echo(raw: str, message: str) -> None:
    """No run of 5 characters of the input appears in the message (messages hold at most '1900')."""
    text = raw.strip()
    for i in range(len(text) - 4):
        assert text[i : i + 5] not in message


# -- citizen ID: known values -------------------------------------------------------------------


def test_gb11643_sample_number_is_valid() -> None:
    parsed = parse_citizen_id("11010519491231002X")
    assert parsed.value == "11010519491231002X"
    assert parsed.region == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sequence == 2
    assert parsed.sex == "F"


def test_computed_chongqing_number_is_valid_and_male() -> None:
    number = make_citizen_id("500103", date(1990, 5, 17), 123)
    assert number[:17] == "50010319900517123"
    parsed = parse_citizen_id(number)
    assert (parsed.sex, parsed.sequence, parsed.birth_date) == ("M", 123, date(1990, 5, 17))


def test_lowercase_x_and_surrounding_whitespace_are_normalised() -> None:
    assert parse_citizen_id(" 11010519491231002x\t").value == "11010519491231002X"
    assert parse_citizen_id("\u300011010519491231002X\u3000").value.endswith("X")


def test_residence_permit_prefix_83_is_accepted() -> None:
    number = make_citizen_id("830000", date(1985, 1, 2), 31)
    assert parse_citizen_id(number).region == "830000"


# -- citizen ID: format and plausibility are two rules -----------------------------------------

GB_SAMPLE = "440524188001010014"  # GB 11643-1999's own example: born 1 January 1880


def test_the_standards_own_sample_number_is_well_formed() -> None:
    parsed = parse_citizen_id(GB_SAMPLE)
    assert (parsed.region, parsed.birth_date, parsed.sequence) == ("440524", date(1880, 1, 1), 1)
    assert make_citizen_id("440524", date(1880, 1, 1), 1) == GB_SAMPLE


@pytest.mark.parametrize(
    ("number", "says"),
    [
        (GB_SAMPLE, "before 1900: it cannot be a living person's"),
        (_with_check("11010518991231002"), "before 1900"),
        (_with_check("11010520250616002"), "in the future"),  # the day after TODAY
    ],
)
def test_plausibility_is_a_second_rule_with_its_own_message(number: str, says: str) -> None:
    parse_citizen_id(number)  # the format holds
    with pytest.raises(ImplausibleIdentifier) as caught:
        parse_living_citizen_id(number, today=TODAY)
    assert caught.value.part == "birth_date"
    assert "well-formed" in str(caught.value)
    assert says in str(caught.value)
    _no_echo(number, str(caught.value))
    with pytest.raises(InvalidIdentifier) as unreal:  # a format error reads differently
        parse_living_citizen_id(_with_check("11010519490230002"), today=TODAY)
    assert not isinstance(unreal.value, ImplausibleIdentifier)
    assert "not a real calendar date" in str(unreal.value)


def test_a_living_persons_number_passes_both_rules() -> None:
    parsed = parse_living_citizen_id("11010519491231002X", today=TODAY)
    assert parsed.birth_date == date(1949, 12, 31)
    assert parse_living_citizen_id(_with_check("11010519000101002"), today=TODAY)
    assert parse_living_citizen_id(_with_check("11010520250615002"), today=TODAY)  # born today


@pytest.mark.parametrize(
    "region",
    [
        "441900",  # Dongguan: a prefecture-level city without counties, county part 00
        "442000",  # Zhongshan, likewise
        "620200",  # Jiayuguan, likewise
        "110000",  # a province-level code: not ruled out for old numbers
        "460033",  # Hainan's old code for a directly administered county: prefecture part 00
        "429004",  # a county-level city the province administers directly: prefecture part 90
        "440401",  # a city's districts taken together (01), on numbers issued in the 1980s
        "440620",  # a city's urban area (20) in the 1980 and 1982 editions
        "517000",  # prefecture part 70, the highest city code (Fuling, 1990s)
        "500381",  # Chongqing's old county-level cities: municipality prefecture part 03
        "810000",  # residence permits of Hong Kong,
        "820000",  # Macao
        "830000",  # and Taiwan residents
        "710000",  # Taiwan as GB/T 2260 lists it
    ],
)
def test_real_region_codes_including_unusual_ones_are_accepted(region: str) -> None:
    number = make_citizen_id(region, date(1960, 3, 4), 17)
    assert parse_citizen_id(number).region == region


# -- citizen ID: each part refused --------------------------------------------------------------

CITIZEN_REJECTIONS = [
    ("length", "1101051949123100"),
    ("length", ""),
    ("length", "11010519491231002X1"),
    ("charset", "11010519491231002Y"),
    ("charset", "1101051949123100A2"),
    ("charset", "1101051949123100２X"),  # a full-width digit is not an ASCII digit
    ("region", _with_check("99010519491231002")),
    ("region", _with_check("00010519491231002")),
    ("region", _with_check("11710519491231002")),  # prefecture part 71: never assigned
    ("region", _with_check("44890119491231002")),  # 89
    ("region", _with_check("50910119491231002")),  # 91: only 90 is used above 70
    ("region", _with_check("65990119491231002")),  # 99
    ("region", _with_check("81010119491231002")),  # Hong Kong has no subdivision codes
    ("region", _with_check("82000119491231002")),  # nor Macao
    ("region", _with_check("83010019491231002")),  # residence permits use 830000 only
    ("region", _with_check("71020019491231002")),  # GB/T 2260 lists 710000 only
    ("birth_date", _with_check("11010519490230002")),  # 30 February
    ("birth_date", _with_check("11010519491331002")),  # month 13
    ("birth_date", _with_check("11010500000101002")),  # year 0
    ("sequence", _with_check("11010519491231000")),
    ("check_character", "110105194912310021"),
    ("check_character", "11010519491231002X".replace("X", "0")),
]


@pytest.mark.parametrize(("part", "raw"), CITIZEN_REJECTIONS)
def test_citizen_id_rejection_names_the_part_without_echoing(part: str, raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_citizen_id(raw)
    assert caught.value.part == part
    assert caught.value.kind == "citizen_id"
    assert isinstance(caught.value, ValueError)
    assert "citizen ID number" in str(caught.value)
    _no_echo(raw, str(caught.value))


def test_make_citizen_id_refuses_impossible_parts() -> None:
    with pytest.raises(InvalidIdentifier, match="region"):
        make_citizen_id("990000", date(1990, 1, 1), 1)
    for region in ("117501", "810100", "50a103", "5001"):
        with pytest.raises(InvalidIdentifier) as caught:
            make_citizen_id(region, date(1990, 1, 1), 1)
        assert caught.value.part == "region"
    with pytest.raises(InvalidIdentifier, match="sequence"):
        make_citizen_id("500103", date(1990, 1, 1), 0)
    with pytest.raises(InvalidIdentifier):
        citizen_id_check_char("1234")
    with pytest.raises(InvalidIdentifier):
        citizen_id_check_char("1234567890123456X")


# -- citizen ID: properties ---------------------------------------------------------------------

regions = st.one_of(
    st.builds(
        lambda province, prefecture, county: province + prefecture + county,
        st.sampled_from(sorted(PROVINCE_PREFIXES - UNDIVIDED_PREFIXES)),
        st.sampled_from(sorted(PREFECTURE_PARTS)),
        st.from_regex(r"[0-9]{2}", fullmatch=True),
    ),
    st.sampled_from(sorted(prefix + "0000" for prefix in UNDIVIDED_PREFIXES)),
)
unassigned_prefecture_regions = st.builds(
    lambda province, prefecture, county: f"{province}{prefecture:02d}{county}",
    st.sampled_from(sorted(PROVINCE_PREFIXES - UNDIVIDED_PREFIXES)),
    st.one_of(st.integers(71, 89), st.integers(91, 99)),
    st.from_regex(r"[0-9]{2}", fullmatch=True),
)
citizen_ids = st.builds(
    make_citizen_id,
    regions,
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.integers(min_value=1, max_value=999),
)


@given(regions, st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(1, 999))
def test_every_generated_citizen_id_passes_and_round_trips(
    region: str, born: date, sequence: int
) -> None:
    number = make_citizen_id(region, born, sequence)
    parsed = parse_citizen_id(number)
    assert parsed.value == number
    assert (parsed.region, parsed.birth_date, parsed.sequence) == (region, born, sequence)
    assert parsed.sex == ("M" if sequence % 2 else "F")
    assert parse_citizen_id(number.lower()) == parsed


@given(unassigned_prefecture_regions, st.integers(min_value=1, max_value=999))
def test_a_prefecture_part_gb2260_never_assigns_is_refused(region: str, sequence: int) -> None:
    number = _with_check(f"{region}19800101{sequence:03d}")
    with pytest.raises(InvalidIdentifier) as caught:
        parse_citizen_id(number)
    assert caught.value.part == "region"
    assert "characters 3-4" in str(caught.value)
    _no_echo(number, str(caught.value))
    with pytest.raises(InvalidIdentifier) as made:
        make_citizen_id(region, date(1980, 1, 1), sequence)
    assert made.value.part == "region"


@given(citizen_ids)
def test_every_single_substitution_of_a_citizen_id_is_caught(number: str) -> None:
    for position in range(18):
        allowed = "0123456789X" if position == 17 else "0123456789"
        for char in allowed:
            if char == number[position]:
                continue
            mutated = number[:position] + char + number[position + 1 :]
            # The check character alone catches it, whatever else the change did to the date.
            assert citizen_id_check_char(mutated[:17]) != mutated[17]
            with pytest.raises(InvalidIdentifier):
                parse_citizen_id(mutated)


@given(st.text(alphabet="0123456789Xx \t", max_size=24))
def test_no_citizen_id_error_echoes_its_input(raw: str) -> None:
    try:
        parse_citizen_id(raw)
    except InvalidIdentifier as exc:
        _no_echo(raw, str(exc))


# -- unified social credit code: known values ---------------------------------------------------


def test_well_known_credit_code_is_valid() -> None:
    parsed = parse_credit_code("91350100M000100Y43")
    assert parsed.registration_authority == "9"
    assert parsed.organisation_type == "1"
    assert parsed.region == "350100"
    assert parsed.organisation_code == "M000100Y4"
    assert parsed.check_character == "3"
    assert parsed.authority.name_zh == "工商"


def test_gb11714_organisation_code_check() -> None:
    assert organisation_code_check_char("M000100Y") == "4"
    # weights 3 7 9 10 5 8 4 2; check = 11 - sum % 11, with 10 -> X and 11 -> 0
    assert organisation_code_check_char("00000001") == "9"  # sum 2
    assert organisation_code_check_char("00000006") == "X"  # sum 12 = 1 (mod 11)
    assert organisation_code_check_char("00000000") == "0"  # sum 0


def test_credit_code_lowercase_and_whitespace_normalised() -> None:
    assert parse_credit_code("  91350100m000100y43 ").value == "91350100M000100Y43"


def test_central_region_is_accepted() -> None:
    code = make_credit_code("1", "1", "100000", "00001234")
    assert parse_credit_code(code).region == "100000"


def test_every_authority_type_pair_in_the_standard_is_accepted() -> None:
    for authority in REGISTRATION_AUTHORITIES.values():
        for org_type, _ in authority.organisation_types:
            code = make_credit_code(authority.code, org_type, "500103", "MA5U8K2L")
            assert parse_credit_code(code).authority is authority


# -- unified social credit code: each part refused ----------------------------------------------

CREDIT_REJECTIONS = [
    ("length", "91350100M000100Y4"),
    ("length", "91350100M000100Y433"),
    ("charset", "91350100M000100I43"),  # I, O, Z, S, V are never used
    ("charset", "91350100M000100O43"),
    ("charset", "91350100M000100S43"),
    ("charset", "91350100M000100V43"),
    ("charset", "91350100M000100Z43"),
    ("charset", "91350100M000100Y4é"),
    ("charset", "91350100M000100Y4-"),
    ("registration_authority", _credit_with_check("B1350100M000100Y4")),
    ("organisation_type", _credit_with_check("99350100M000100Y4")),
    ("organisation_type", _credit_with_check("Y2350100M000100Y4")),
    ("organisation_type", _credit_with_check("9A350100M000100Y4")),
    ("region", _credit_with_check("91990100M000100Y4")),
    ("region", _credit_with_check("9135A100M000100Y4")),
    ("organisation_code", _credit_with_check("91350100M000100Y5")),
    ("organisation_code", _credit_with_check("91350100M000100YA")),
    ("check_character", "91350100M000100Y44"),
]


@pytest.mark.parametrize(("part", "raw"), CREDIT_REJECTIONS)
def test_credit_code_rejection_names_the_part_without_echoing(part: str, raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_credit_code(raw)
    assert caught.value.part == part
    assert caught.value.kind == "credit_code"
    assert "unified social credit code" in str(caught.value)
    _no_echo(raw, str(caught.value))


def test_make_credit_code_refuses_impossible_parts() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        make_credit_code("9", "9", "500103", "MA5U8K2L")
    assert caught.value.part == "organisation_type"
    with pytest.raises(InvalidIdentifier) as caught:
        make_credit_code("9", "1", "500103", "MA5U8K2I")
    assert caught.value.part == "organisation_code"
    with pytest.raises(InvalidIdentifier) as caught:
        credit_code_check_char("91350100M000100I4")
    assert caught.value.part == "charset"


# -- unified social credit code: properties -----------------------------------------------------

authority_pairs = st.sampled_from(
    [(a.code, t) for a in REGISTRATION_AUTHORITIES.values() for t, _ in a.organisation_types]
)
credit_regions = st.one_of(st.just("100000"), regions)
bodies = st.text(alphabet=CREDIT_CODE_CHARSET, min_size=8, max_size=8)
credit_codes = st.builds(
    lambda pair, region, body: make_credit_code(pair[0], pair[1], region, body),
    authority_pairs,
    credit_regions,
    bodies,
)


@given(authority_pairs, credit_regions, bodies)
def test_every_generated_credit_code_passes_and_round_trips(
    pair: tuple[str, str], region: str, body: str
) -> None:
    code = make_credit_code(pair[0], pair[1], region, body)
    parsed = parse_credit_code(code)
    assert parsed.value == code
    assert (parsed.registration_authority, parsed.organisation_type) == pair
    assert parsed.region == region
    assert parsed.organisation_code[:8] == body
    assert parse_credit_code(code.lower()) == parsed


@given(credit_codes)
def test_every_single_substitution_of_a_credit_code_is_caught(code: str) -> None:
    for position in range(18):
        for char in CREDIT_CODE_CHARSET:
            if char == code[position]:
                continue
            mutated = code[:position] + char + code[position + 1 :]
            assert credit_code_check_char(mutated[:17]) != mutated[17]
            with pytest.raises(InvalidIdentifier):
                parse_credit_code(mutated)


@given(st.text(alphabet=CREDIT_CODE_CHARSET + "IOZSVabc ", max_size=24))
def test_no_credit_code_error_echoes_its_input(raw: str) -> None:
    try:
        parse_credit_code(raw)
    except InvalidIdentifier as exc:
        _no_echo(raw, str(exc))
