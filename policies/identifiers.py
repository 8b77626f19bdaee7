"""The two identifiers every input carries: citizen ID numbers and unified social credit codes.

Guarantees:
- Two rules for a citizen ID number, with two messages:
  - the *format* (`parse_citizen_id`): a GB 11643-1999 number whose region code is plausible
    (`policies.regions.citizen_region_problem`: a province-level prefix and a prefecture part
    GB/T 2260 assigns; no county table), whose birth date is a real calendar date, whose
    sequence is not 000 and whose ISO 7064 MOD 11-2 check character matches. The standard's own
    sample `440524188001010014` (born 1880) passes. This is what a search, a query or an order
    about a number applies: any well-formed number may be asked about;
  - *plausibility for a living person* (`check_living_birth_date`, or both rules at once with
    `parse_living_citizen_id`): born on or after 1900-01-01 and not after `today`. This is for
    enrolling a subject; its refusal (`ImplausibleIdentifier`, part `birth_date`) says the
    number is well-formed but cannot be a living person's.
  Surrounding whitespace is stripped and a lowercase `x` check character becomes `X`; nothing
  else is altered.
- `parse_credit_code` accepts a value only if it is a GB 32100-2015 code whose registration
  authority and organisation type are a pair the standard defines, whose region is a valid
  province prefix (or the central-level `100000`), whose organisation code carries a valid
  GB 11714 check character and whose MOD 31 check character matches. Surrounding whitespace is
  stripped and letters are upper-cased (only after the input was found to be ASCII).
- Both check characters detect every single-character substitution (the weights are non-zero
  modulo a prime), so a mistyped character is always refused.
- An `InvalidIdentifier` names the part that is wrong in `.part`; its message explains the rule in
  plain words and contains no character of the input: identifiers are personal data.

Decisions: the region rules (including 83 for Taiwan residents' residence permits) and their
sources are in `policies.regions`. Sequence 000 is never assigned and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from policies.regions import CENTRAL_REGION as CENTRAL_REGION
from policies.regions import PROVINCE_PREFIXES as PROVINCE_PREFIXES
from policies.regions import citizen_region_problem

IdentifierKind = Literal["citizen_id", "credit_code"]
Part = Literal[
    "length",
    "charset",
    "region",
    "birth_date",
    "sequence",
    "check_character",
    "registration_authority",
    "organisation_type",
    "organisation_code",
]

_KIND_LABEL: dict[IdentifierKind, str] = {
    "citizen_id": "citizen ID number",
    "credit_code": "unified social credit code",
}


class InvalidIdentifier(ValueError):
    """An identifier failed validation: `.part` names the failing part; the message has no input."""

    def __init__(self, kind: IdentifierKind, part: Part, reason: str) -> None:
        super().__init__(f"invalid {_KIND_LABEL[kind]}: {reason}")
        self.kind: IdentifierKind = kind
        self.part: Part = part


_EARLIEST_BIRTH = date(1900, 1, 1)

# ---------------------------------------------------------------------------------------------
# Citizen ID number (GB 11643-1999)
# ---------------------------------------------------------------------------------------------

_CITIZEN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CITIZEN_CHECK = "10X98765432"
_CITIZEN_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS17 = re.compile(r"[0-9]{17}")
_REGION6 = re.compile(r"[0-9]{6}")


@dataclass(frozen=True, slots=True)
class CitizenId:
    """A validated citizen ID number; `value` is the normalised 18-character form."""

    value: str
    region: str
    birth_date: date
    sequence: int
    sex: Literal["M", "F"]


def _citizen_error(part: Part, reason: str) -> InvalidIdentifier:
    return InvalidIdentifier("citizen_id", part, reason)


def citizen_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 ASCII digits."""
    if len(first17) != 17:
        raise _citizen_error("length", "the check character is computed over exactly 17 digits")
    if not _DIGITS17.fullmatch(first17):
        raise _citizen_error("charset", "the check character is computed over digits only")
    total = sum(w * (ord(c) - 48) for w, c in zip(_CITIZEN_WEIGHTS, first17, strict=True))
    return _CITIZEN_CHECK[total % 11]


class ImplausibleIdentifier(InvalidIdentifier):
    """A well-formed citizen ID number that cannot be a living person's (plausibility rule)."""


def _birth_date(text: str) -> date:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _citizen_error(
            "birth_date", "the birth date (characters 7-14) is not a real calendar date"
        ) from None


def check_living_birth_date(citizen: CitizenId, *, today: date) -> CitizenId:
    """`citizen` if a living person could have been born on its birth date (1900-01-01 to
    `today`), else `ImplausibleIdentifier`; the number's format is not in question here."""
    if citizen.birth_date < _EARLIEST_BIRTH:
        raise ImplausibleIdentifier(
            "citizen_id",
            "birth_date",
            "the number is well-formed, but its birth date (characters 7-14) is before 1900: "
            "it cannot be a living person's",
        )
    if citizen.birth_date > today:
        raise ImplausibleIdentifier(
            "citizen_id",
            "birth_date",
            "the number is well-formed, but its birth date (characters 7-14) is in the future",
        )
    return citizen


def parse_living_citizen_id(raw: str, *, today: date) -> CitizenId:
    """Both rules: the format (`parse_citizen_id`), then `check_living_birth_date`."""
    return check_living_birth_date(parse_citizen_id(raw), today=today)


def parse_citizen_id(raw: str) -> CitizenId:
    """Validate the format of a citizen ID number and normalise it, or raise
    `InvalidIdentifier` naming the part (see the module guarantees: no plausibility rule)."""
    text = raw.strip()
    if len(text) != 18:
        raise _citizen_error("length", "a citizen ID number has exactly 18 characters")
    if text[17] == "x":
        text = text[:17] + "X"
    if not _CITIZEN_SHAPE.fullmatch(text):
        raise _citizen_error(
            "charset", "a citizen ID number is 17 digits followed by a digit or the letter X"
        )
    region_problem = citizen_region_problem(text[:6])
    if region_problem is not None:
        raise _citizen_error("region", region_problem)
    born = _birth_date(text[6:14])
    sequence = int(text[14:17])
    if sequence == 0:
        raise _citizen_error("sequence", "the sequence number (characters 15-17) cannot be 000")
    if citizen_id_check_char(text[:17]) != text[17]:
        raise _citizen_error(
            "check_character",
            "the check character (character 18) does not match the other 17: "
            "a character was probably mistyped",
        )
    return CitizenId(
        value=text,
        region=text[:6],
        birth_date=born,
        sequence=sequence,
        sex="M" if sequence % 2 else "F",
    )


def make_citizen_id(region: str, birth: date, sequence: int) -> str:
    """A valid citizen ID number for these parts; refuses parts that could never validate."""
    if not _REGION6.fullmatch(region):
        raise _citizen_error("region", "the region must be 6 digits")
    region_problem = citizen_region_problem(region)
    if region_problem is not None:
        raise _citizen_error("region", region_problem)
    if not 1 <= sequence <= 999:
        raise _citizen_error("sequence", "the sequence number must be between 1 and 999")
    first17 = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return first17 + citizen_id_check_char(first17)


# ---------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015) and its organisation code (GB 11714)
# ---------------------------------------------------------------------------------------------

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True, slots=True)
class RegistrationAuthority:
    """A registration authority (登记管理部门) and the organisation types it may assign."""

    code: str
    name_zh: str
    name: str
    organisation_types: tuple[tuple[str, str], ...]  # (type code, Chinese name)


#: GB 32100-2015 table 1 (with its 2016 amendment): authority code -> allowed type codes.
REGISTRATION_AUTHORITIES: dict[str, RegistrationAuthority] = {
    a.code: a
    for a in (
        RegistrationAuthority(
            "1",
            "机构编制",
            "institutional establishment",
            (
                ("1", "机关"),
                ("2", "事业单位"),
                ("3", "中央编办直接管理机构编制的群众团体"),
                ("9", "其他"),
            ),
        ),
        RegistrationAuthority(
            "2", "外交", "foreign affairs", (("1", "外国常驻新闻机构"), ("9", "其他"))
        ),
        RegistrationAuthority(
            "3",
            "司法行政",
            "judicial administration",
            (
                ("1", "律师执业机构"),
                ("2", "公证处"),
                ("3", "基层法律服务所"),
                ("4", "司法鉴定机构"),
                ("5", "仲裁委员会"),
                ("9", "其他"),
            ),
        ),
        RegistrationAuthority("4", "文化", "culture", (("1", "外国在华文化中心"), ("9", "其他"))),
        RegistrationAuthority(
            "5",
            "民政",
            "civil affairs",
            (("1", "社会团体"), ("2", "民办非企业单位"), ("3", "基金会"), ("9", "其他")),
        ),
        RegistrationAuthority(
            "6",
            "旅游",
            "tourism",
            (
                ("1", "外国旅游部门常驻代表机构"),
                ("2", "港澳台地区旅游部门常驻内地(大陆)代表机构"),
                ("9", "其他"),
            ),
        ),
        RegistrationAuthority(
            "7",
            "宗教",
            "religious affairs",
            (("1", "宗教活动场所"), ("2", "宗教院校"), ("9", "其他")),
        ),
        RegistrationAuthority("8", "工会", "trade unions", (("1", "基层工会"), ("9", "其他"))),
        RegistrationAuthority(
            "9",
            "工商",
            "industry and commerce",
            (("1", "企业"), ("2", "个体工商户"), ("3", "农民专业合作社")),
        ),
        RegistrationAuthority(
            "A",
            "中央军委改革和编制办公室",
            "Central Military Commission reform and establishment office",
            (("1", "军队事业单位"), ("9", "其他")),
        ),
        RegistrationAuthority(
            "N",
            "农业",
            "agriculture",
            (
                ("1", "组级集体经济组织"),
                ("2", "村级集体经济组织"),
                ("3", "乡镇级集体经济组织"),
                ("9", "其他"),
            ),
        ),
        RegistrationAuthority("Y", "其他", "other", (("1", "其他"),)),
    )
}


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A validated unified social credit code; `value` is the normalised 18-character form."""

    value: str
    registration_authority: str
    organisation_type: str
    region: str
    organisation_code: str  # 9 characters: 8 body characters + the GB 11714 check character
    check_character: str

    @property
    def authority(self) -> RegistrationAuthority:
        return REGISTRATION_AUTHORITIES[self.registration_authority]


def _credit_error(part: Part, reason: str) -> InvalidIdentifier:
    return InvalidIdentifier("credit_code", part, reason)


def organisation_code_check_char(body8: str) -> str:
    """The GB 11714 check character for 8 body characters (digits or upper-case letters)."""
    if len(body8) != 8 or not all(c in _CREDIT_VALUE for c in body8):
        raise _credit_error(
            "organisation_code", "the organisation code body is 8 digits or capital letters"
        )
    total = sum(
        w * (ord(c) - 48 if c <= "9" else ord(c) - 55)
        for w, c in zip(_ORG_WEIGHTS, body8, strict=True)
    )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 MOD 31 check character for the first 17 characters of a credit code."""
    if len(first17) != 17:
        raise _credit_error("length", "the check character is computed over exactly 17 characters")
    try:
        total = sum(w * _CREDIT_VALUE[c] for w, c in zip(_CREDIT_WEIGHTS, first17, strict=True))
    except KeyError:
        raise _credit_error(
            "charset", "only digits and capital letters other than I, O, Z, S, V are used"
        ) from None
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def _check_region(region: str) -> None:
    if not _REGION6.fullmatch(region) or (
        region[:2] not in PROVINCE_PREFIXES and region != CENTRAL_REGION
    ):
        raise _credit_error(
            "region",
            "the region code (characters 3-8) is not 6 digits with a province-level prefix",
        )


def _check_authority_and_type(authority: str, org_type: str) -> None:
    known = REGISTRATION_AUTHORITIES.get(authority)
    if known is None:
        raise _credit_error(
            "registration_authority",
            "the registration authority code (character 1) is not one GB 32100 defines",
        )
    if org_type not in {code for code, _ in known.organisation_types}:
        raise _credit_error(
            "organisation_type",
            "the organisation type (character 2) is not defined for that registration authority",
        )


def parse_credit_code(raw: str) -> CreditCode:
    """Validate and normalise a unified social credit code, or raise `InvalidIdentifier`."""
    text = raw.strip()
    if len(text) != 18:
        raise _credit_error("length", "a unified social credit code has exactly 18 characters")
    if not text.isascii():
        raise _credit_error(
            "charset", "only digits and capital letters other than I, O, Z, S, V are used"
        )
    text = text.upper()
    if not all(c in _CREDIT_VALUE for c in text):
        raise _credit_error(
            "charset", "only digits and capital letters other than I, O, Z, S, V are used"
        )
    _check_authority_and_type(text[0], text[1])
    _check_region(text[2:8])
    org_code = text[8:17]
    if organisation_code_check_char(org_code[:8]) != org_code[8]:
        raise _credit_error(
            "organisation_code",
            "the organisation code (characters 9-17) fails its GB 11714 check character",
        )
    if credit_code_check_char(text[:17]) != text[17]:
        raise _credit_error(
            "check_character",
            "the check character (character 18) does not match the other 17: "
            "a character was probably mistyped",
        )
    return CreditCode(
        value=text,
        registration_authority=text[0],
        organisation_type=text[1],
        region=text[2:8],
        organisation_code=org_code,
        check_character=text[17],
    )


def make_credit_code(authority: str, org_type: str, region: str, org_body8: str) -> str:
    """A valid credit code for these parts; refuses parts that could never validate."""
    _check_authority_and_type(authority, org_type)
    _check_region(region)
    org_code = org_body8 + organisation_code_check_char(org_body8)
    first17 = f"{authority}{org_type}{region}{org_code}"
    return first17 + credit_code_check_char(first17)
