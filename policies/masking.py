"""Masks applied to released values, as the decision's obligations name them.

Guarantees (never more than the mask allows):
- `none` returns the value unchanged; `redact` returns `"***"` whatever the value (its length is
  not disclosed);
- `first6_last4` keeps the first 6 and last 4 characters and stars the rest, one star per
  character; a value of 10 characters or fewer is starred completely;
- `last4` stars all but the last 4 characters; a value of 4 characters or fewer is starred
  completely;
- `year_only` keeps the year of a `date` (YYYY-MM-DD) or `year_month` (YYYY-MM) and nothing
  else; anything that does not start with a 4-digit year is redacted;
- `hash` returns `"h:"` and the first 16 hex digits of HMAC-SHA256(hash_key, value): equal
  values give equal hashes under one key (one report), and a fresh random key per report makes
  them unlinkable across reports. The key must be at least 16 bytes.
- A value of a type the mask does not apply to, `None` aside (which stays `None`), is redacted;
  an unknown mask kind raises `ValueError` naming the kind, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from policies.catalog_model import FieldType, MaskKind

REDACTED = "***"
HASH_PREFIX = "h:"
HASH_HEX_DIGITS = 16
MIN_HASH_KEY_BYTES = 16


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def _first6_last4(text: str) -> str:
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def _last4(text: str) -> str:
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def _year(value: object) -> str:
    if isinstance(value, date):
        return f"{value.year:04d}"
    if not isinstance(value, str) or len(value) < 4:
        return REDACTED
    year, rest = value[:4], value[4:]
    if year.isascii() and year.isdigit() and (not rest or rest.startswith("-")):
        return year
    return REDACTED


def apply_mask(kind: MaskKind, value: object, field_type: FieldType, *, hash_key: bytes) -> object:
    """`value` as the mask `kind` lets it be seen (see the module guarantees)."""
    if value is None:
        return None
    if kind == "none":
        return value
    if kind == "redact":
        return REDACTED
    if kind == "year_only":
        return _year(value) if field_type in ("date", "year_month") else REDACTED
    text = _text(value)
    if kind == "first6_last4":
        return REDACTED if text is None else _first6_last4(text)
    if kind == "last4":
        return REDACTED if text is None else _last4(text)
    if kind == "hash":
        if len(hash_key) < MIN_HASH_KEY_BYTES:
            raise ValueError("the hash mask needs a key of at least 16 bytes")
        if text is None:
            return REDACTED
        digest = hmac.new(hash_key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:HASH_HEX_DIGITS]
    raise ValueError(f"unknown mask kind {kind!r}")
