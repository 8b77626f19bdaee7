"""Checking one record's payload against its record type in the catalog.

Guarantees of `validate_payload`:
- it returns a new dict holding exactly the declared fields that are present, normalised:
  strings stripped of surrounding whitespace, dates as `YYYY-MM-DD`, year-months as `YYYY-MM`,
  ID numbers and credit codes in their normalised form; an optional field given as None is
  dropped; the result is JSON-serialisable;
- it refuses an undeclared field, a missing required field, a value of the wrong type (a boolean
  is never an integer), an enum value not declared, negative money, an integer out of bounds, a
  string too long, not matching its pattern or holding control characters, an invalid
  identifier, and any consent-bound field unless the caller says consent is on record;
- a `PayloadError` names the record type and the field and never contains the value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime

from policies.catalog_model import FieldSpec, RecordType
from policies.identifiers import InvalidIdentifier, parse_citizen_id, parse_credit_code

MAX_MONEY_FEN = 10**15
_DEFAULT_MAX_LENGTH = {"string": 200, "text": 4000}
_CONTROL_IN_STRING = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")  # only a key shaped like a field name is echoed


class PayloadError(ValueError):
    """A payload does not fit its record type; names record type and field, never the value."""

    def __init__(self, record_type: str, field: str | None, reason: str) -> None:
        where = f"record type {record_type!r}" + (f" field {field!r}" if field else "")
        super().__init__(f"{where}: {reason}")
        self.record_type = record_type
        self.field = field
        self.reason = reason


class _Bad(Exception):
    """Internal: the reason a single value was refused."""


def _text(spec: FieldSpec, value: object, today: date | None) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected a {spec.type}")
    value = value.strip()
    if not value:
        raise _Bad("must not be empty")
    control = _CONTROL_IN_TEXT if spec.type == "text" else _CONTROL_IN_STRING
    if control.search(value):
        raise _Bad("contains control characters")
    limit = spec.max_length or _DEFAULT_MAX_LENGTH[spec.type]
    if len(value) > limit:
        raise _Bad(f"longer than {limit} characters")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise _Bad("does not have the declared format")
    return value


def _date(spec: FieldSpec, value: object, today: date | None) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise _Bad("expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise _Bad("is not a real calendar date") from None


def _year_month(spec: FieldSpec, value: object, today: date | None) -> str:
    shape = _YEAR_MONTH.fullmatch(value) if isinstance(value, str) else None
    if shape is None:
        raise _Bad("expected a year and month as YYYY-MM")
    if not 1 <= int(shape.group(2)) <= 12 or int(shape.group(1)) < 1900:
        raise _Bad("is not a real month")
    return shape.group(0)


def _integer(spec: FieldSpec, value: object, today: date | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("expected an integer")
    if spec.minimum is not None and value < spec.minimum:
        raise _Bad(f"below the minimum {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise _Bad(f"above the maximum {spec.maximum}")
    return value


def _money(spec: FieldSpec, value: object, today: date | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("expected an integer amount in fen")
    if not 0 <= value <= MAX_MONEY_FEN:
        raise _Bad("an amount in fen is between 0 and 10^15")
    return value


def _boolean(spec: FieldSpec, value: object, today: date | None) -> bool:
    if not isinstance(value, bool):
        raise _Bad("expected true or false")
    return value


def _enum(spec: FieldSpec, value: object, today: date | None) -> str:
    if not isinstance(value, str) or value not in spec.values:
        raise _Bad("is not one of the declared values")
    return value


def _id_number(spec: FieldSpec, value: object, today: date | None) -> str:
    if not isinstance(value, str):
        raise _Bad("expected a citizen ID number as text")
    try:
        return parse_citizen_id(value).value
    except InvalidIdentifier as exc:
        raise _Bad(f"is not a valid citizen ID number ({exc.part})") from None


@functools.lru_cache(maxsize=4096)
def normalised_credit_code(value: str) -> str:
    """`parse_credit_code(value).value`, remembered for the last 4,096 valid codes (they name
    organisations, not people; a refused code is checked afresh every time)."""
    return parse_credit_code(value).value


def _credit_code(spec: FieldSpec, value: object, today: date | None) -> str:
    if not isinstance(value, str):
        raise _Bad("expected a unified social credit code as text")
    try:
        return normalised_credit_code(value)
    except InvalidIdentifier as exc:
        raise _Bad(f"is not a valid unified social credit code ({exc.part})") from None


_NORMALISERS: dict[str, Callable[[FieldSpec, object, date | None], object]] = {
    "string": _text,
    "text": _text,
    "date": _date,
    "year_month": _year_month,
    "integer": _integer,
    "money_fen": _money,
    "boolean": _boolean,
    "enum": _enum,
    "id_number": _id_number,
    "credit_code": _credit_code,
}


def validate_payload(
    record_type: RecordType,
    payload: Mapping[str, object],
    *,
    consent_recorded: bool = False,
    today: date | None = None,
) -> dict[str, object]:
    """The normalised payload, or `PayloadError` naming the first field at fault.

    `consent_recorded` must be True for a payload to carry consent-bound fields (income,
    deposits, securities, insurance, real estate, tax amounts); `today` bounds birth dates in
    ID numbers (default: the current date).
    """
    code = record_type.code
    for key in payload:
        if not isinstance(key, str) or not record_type.has_field(key):
            name = key if isinstance(key, str) and _FIELD_NAME.fullmatch(key) else None
            raise PayloadError(code, name, "is not declared in the catalog")
    result: dict[str, object] = {}
    for spec in record_type.fields:
        value = payload.get(spec.name)
        if value is None:
            if spec.required:
                raise PayloadError(code, spec.name, "is required")
            continue
        if spec.consent_required and not consent_recorded:
            raise PayloadError(
                code, spec.name, "needs the subject's recorded written consent, and none is on file"
            )
        try:
            result[spec.name] = _NORMALISERS[spec.type](spec, value, today)
        except _Bad as bad:
            raise PayloadError(code, spec.name, str(bad)) from None
    return result
