"""Strict reading of reviewed TOML data: every key expected, every value of the declared type.

Guarantees: a `StrictTable` refuses, at construction, any key it was not told to expect; each
accessor refuses a missing required key or a value of the wrong TOML type (a boolean is never
taken for an integer). Every refusal is raised through the caller's `error` factory, so the
message carries the caller's location (file, entry, field) and never the offending value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ErrorFactory = Callable[[str], Exception]


class StrictTable:
    """One TOML table, read under a closed set of keys."""

    def __init__(self, value: object, *, allowed: Iterable[str], error: ErrorFactory) -> None:
        if not isinstance(value, dict):
            raise error("must be a table")
        self._data: dict[str, Any] = value
        self._error = error
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise error(f"unknown key {unknown[0]!r}")

    def text(self, key: str) -> str:
        """A required non-empty string."""
        value = self.optional_text(key)
        if value is None:
            raise self._error(f"missing key {key!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self._error(f"{key!r} must be a non-empty string")
        return value

    def flag(self, key: str, *, default: bool) -> bool:
        value = self._data.get(key, default)
        if not isinstance(value, bool):
            raise self._error(f"{key!r} must be true or false")
        return value

    def optional_integer(self, key: str) -> int | None:
        value = self._data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._error(f"{key!r} must be an integer")
        return value

    def integer(self, key: str) -> int:
        value = self.optional_integer(key)
        if value is None:
            raise self._error(f"missing key {key!r}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of non-empty strings; an absent key is the empty tuple."""
        value = self._data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._error(f"{key!r} must be a list of non-empty strings")
        return tuple(value)

    def raw(self, key: str) -> object:
        """The value as parsed (for nested tables the caller reads strictly itself)."""
        return self._data.get(key)

    def array_of_tables(self, key: str) -> list[object]:
        value = self._data.get(key, [])
        if not isinstance(value, list):
            raise self._error(f"{key!r} must be an array of tables ([[{key}]])")
        return value
