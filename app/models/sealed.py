"""The single encryption seam of the data layer: the `Sealed` column type.

A sealed column stores an `Envelope` (AES-256-GCM, see `crypto.envelope`) and nothing else: it
refuses to bind any other Python value, so plaintext can never be written to it by mistake, and
it parses what it reads, so a malformed value fails on load. Sealing and opening go through
`SealedColumns.seal` / `.unseal`, which derive the AAD from the row's own table, column and id;
the cipher (with its HSM-backed key ring) is injected by the caller, never imported here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Dialect, LargeBinary
from sqlalchemy.types import TypeDecorator

from crypto.envelope import Envelope
from crypto.fields import FieldCipher, FieldContext


class Sealed(TypeDecorator[Envelope]):
    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Envelope | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Envelope):
            raise TypeError(
                f"sealed columns accept only Envelope values, not {type(value).__name__}"
            )
        return value.to_bytes()

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Envelope | None:
        if value is None:
            return None
        return Envelope.from_bytes(bytes(value))


#: (table, column) pairs already checked to be sealed columns (the check runs per open).
_SEALED: set[tuple[str, str]] = set()


class SealedColumns:
    """Mixin for models with sealed columns; the row id must be set before sealing."""

    id: Any

    @classmethod
    def context_for(cls, row_id: object, column: str) -> FieldContext:
        """The AAD place of `column` in row `row_id`; refuses a column that is not sealed."""
        table = cls.__table__  # type: ignore[attr-defined]
        if (table.name, column) not in _SEALED:
            if column not in table.c or not isinstance(table.c[column].type, Sealed):
                raise ValueError(f"{table.name}.{column} is not a sealed column")
            _SEALED.add((table.name, column))
        return FieldContext(table.name, column, str(row_id))

    def field_context(self, column: str) -> FieldContext:
        if self.id is None:
            raise ValueError("assign the row id before sealing")
        return self.context_for(self.id, column)

    def seal(self, column: str, value: Any, cipher: FieldCipher, data_key_id: int) -> None:
        setattr(self, column, cipher.seal_json(self.field_context(column), value, data_key_id))

    def unseal(self, column: str, cipher: FieldCipher) -> Any:
        envelope = getattr(self, column)
        if envelope is None:
            return None
        return cipher.open_json(self.field_context(column), envelope)
