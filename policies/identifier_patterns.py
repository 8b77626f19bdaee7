"""The identifier rules as regular expressions, for the API document's schemas.

Guarantees: each pattern is anchored, uses only syntax that ECMA-262 (JSON Schema's regex
dialect) and Python read alike, and accepts every value the matching parser accepts in its
normalised form (`parse_citizen_id(...).value`, `parse_credit_code(...).value`), built from the
same tables (`policies.regions`, `REGISTRATION_AUTHORITIES`). What a pattern cannot say — the
check characters, the number of days in a month — the parser still enforces, so a value can
match and be refused; none that a parser accepts is refused by its pattern.
"""

from __future__ import annotations

from policies.identifiers import CREDIT_CODE_CHARSET, REGISTRATION_AUTHORITIES
from policies.regions import CENTRAL_REGION, PREFECTURE_PARTS, PROVINCE_PREFIXES, UNDIVIDED_PREFIXES


def _any_of(options: list[str]) -> str:
    return "(?:" + "|".join(sorted(options)) + ")"


def citizen_id_pattern() -> str:
    """GB 11643-1999 as a pattern: region (province prefix and prefecture part), a date of
    shape YYYYMMDD with year 0001-9999, a sequence other than 000, and a check character
    (digit or X; the parser also takes a lowercase x)."""
    divided = sorted(PROVINCE_PREFIXES - UNDIVIDED_PREFIXES)
    region = _any_of(
        [
            f"{_any_of(divided)}{_any_of(list(PREFECTURE_PARTS))}[0-9]{{2}}",
            f"{_any_of(sorted(UNDIVIDED_PREFIXES))}0000",
        ]
    )
    year = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
    month = "(?:0[1-9]|1[0-2])"
    day = "(?:0[1-9]|[12][0-9]|3[01])"
    sequence = "(?:00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})"
    return f"^{region}{year}{month}{day}{sequence}[0-9Xx]$"


def credit_code_pattern() -> str:
    """GB 32100-2015 as a pattern: a registration authority with one of its organisation
    types, a region (province prefix or the central level), then ten characters of the
    code's alphabet (organisation code and check character)."""
    pairs = [
        f"{authority.code}{type_code}"
        for authority in REGISTRATION_AUTHORITIES.values()
        for type_code, _ in authority.organisation_types
    ]
    region = _any_of([f"{_any_of(sorted(PROVINCE_PREFIXES))}[0-9]{{4}}", CENTRAL_REGION])
    alphabet = f"[{CREDIT_CODE_CHARSET}]"
    return f"^{_any_of(pairs)}{region}{alphabet}{{10}}$"
