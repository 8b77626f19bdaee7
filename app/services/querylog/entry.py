"""A query-log entry as stored and hashed: its fields in canonical order and their encoding.

Guarantees:
- `stored_fields` is the one mapping from a `QueryAttempt` to the values an entry stores, in
  canonical order after `seq`; every append writes exactly these values and hashes exactly
  them (`crypto.hash_chain`, the one owner of the encoding);
- `EntryEncoding` gives the canonical bytes of an entry from those values or from a stored
  row: the append and the verifier use the same object, so they cannot encode differently;
- `legal_basis` (a government query's) is the optional tail: encoded only when the entry
  holds one, so the entries written before it existed verify unchanged;
- nothing here reads or writes the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from app.models.base import as_utc
from app.models.query_log import CANONICAL_COLUMNS, LEGAL_BASIS_LENGTH, OPTIONAL_FROM
from crypto.hash_chain import CanonicalEncoder, Field, encode_field

#: The fields after `seq`, in canonical order: what an append stores besides seq and hashes.
AFTER_SEQ = CANONICAL_COLUMNS[1:]
_AT = CANONICAL_COLUMNS.index("at")
#: Columns whose values recur from entry to entry (their encodings are remembered).
_REPEATING = (
    "actor_kind",
    "tier",
    "action",
    "purpose",
    "decision",
    "reason",
    "rule_ids",
    "fields_released",
    "fee_fen",
    "catalog_version",
    "policy_version",
)


class EntryEncoding:
    """Canonical bytes of entries, remembering the encodings of the repeating columns."""

    def __init__(self) -> None:
        positions = [CANONICAL_COLUMNS.index(name) for name in _REPEATING]
        self._entry = CanonicalEncoder(
            len(CANONICAL_COLUMNS), positions, optional_from=OPTIONAL_FROM
        )
        self._rest = CanonicalEncoder(
            len(AFTER_SEQ), [p - 1 for p in positions], optional_from=OPTIONAL_FROM - 1
        )

    def entry(self, row: Sequence[Any]) -> bytes:
        """canonical(entry) of a stored row, its values in `CANONICAL_COLUMNS` order (SQLite
        hands the time back naive: it is UTC)."""
        values: list[Field] = list(row)
        values[_AT] = as_utc(cast(datetime, values[_AT]))
        return self._entry.encode(values)

    def after_seq(self, fields: Mapping[str, Field]) -> bytes:
        """canonical of the fields after `seq` (what `stored_fields` returns): the entry's
        bytes are `seq_field(seq) + after_seq(fields)`."""
        return self._rest.encode([fields[name] for name in AFTER_SEQ])

    @staticmethod
    def seq_field(seq: int) -> bytes:
        return encode_field(seq)


def stored_fields(attempt: Any, *, catalog_version: str, policy_version: str) -> dict[str, Field]:
    """The values an entry stores for `attempt` (a `QueryAttempt`), every canonical field but
    `seq`, in canonical order. Text is cut to its column's size and a NUL character (which
    PostgreSQL's text cannot hold) becomes U+FFFD first, so what is hashed is what is stored,
    on either engine."""
    at: datetime = attempt.at
    return {
        "at": at.astimezone(UTC),  # stored and hashed as UTC: SQLite keeps the digits only
        "actor_kind": _text(attempt.actor_kind, 16),
        "actor_ref": _text(attempt.actor_ref, 64),
        "tier": _text(attempt.tier, 16),
        "action": _text(attempt.action, 48),
        "subject_bidx": attempt.subject_bidx,
        "purpose": None if attempt.purpose is None else _text(attempt.purpose, 32),
        "consent_jti": None if attempt.consent_jti is None else _text(attempt.consent_jti, 128),
        "decision": attempt.decision,
        "reason": _text(attempt.reason, 64),
        "rule_ids": _text(",".join(attempt.rule_ids), 400),
        "fields_released": _text(",".join(attempt.fields_released), None),
        "fee_fen": attempt.fee_fen,
        "catalog_version": catalog_version,
        "policy_version": policy_version,
        "request_id": _text(attempt.request_id, 64),
        "client_address": _text(attempt.client_address, 45),
        "legal_basis": (
            None if attempt.legal_basis is None else _text(attempt.legal_basis, LEGAL_BASIS_LENGTH)
        ),
    }


def _text(value: str, size: int | None) -> str:
    cut = value if size is None else value[:size]
    return cut.replace("\x00", "\ufffd") if "\x00" in cut else cut
