"""What the rights use cases share: their parts, the subject's own record, checked texts, and
sealing what people write under the record's own key.

Guarantees: a record is "the subject's" only if it is the current version of one of their
records, so someone else's record, an unknown id and a corrected or withdrawn version all read
alike (not found); a text is accepted only as a string of 1 to `limit` characters, with no
control characters but line breaks and tabs; what people write is sealed under the active data
key of the record's expiry epoch, so it is crypto-shredded with the record.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Record, Subject
from app.models.sealed import SealedColumns
from app.services.keys.lifecycle import KeyService, wrapping_label_for
from app.services.querylog.attempt import Parts
from crypto.fields import FieldCipher
from policies.catalog import Catalog
from policies.rights import RightsRules

_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


class RightsParts(Parts, Protocol):
    """What the rights use cases need beyond a logged query."""

    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def keys(self) -> KeyService: ...

    @property
    def rights(self) -> RightsRules: ...


class BadText(ValueError):
    """A text was refused; the message is safe to show (it never holds the text)."""


def checked_text(value: object, *, name: str, limit: int) -> str:
    """`value` as a text of 1 to `limit` characters (surrounding whitespace trimmed)."""
    if not isinstance(value, str) or not value.strip():
        raise BadText(f"{name} must be a non-empty string.")
    text = value.strip()
    if len(text) > limit:
        raise BadText(f"{name} must be at most {limit} characters (it has {len(text)}).")
    if any(not ch.isprintable() and ch not in _ALLOWED_CONTROLS for ch in text):
        raise BadText(f"{name} must not hold control characters.")
    return text


def parse_id(value: object) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def own_subject(db: Session, subject_id: uuid.UUID | None) -> Subject | None:
    return None if subject_id is None else db.get(Subject, subject_id)


def own_record(db: Session, subject_id: uuid.UUID, record_id: uuid.UUID) -> Record | None:
    """The current version `record_id` of one of the subject's records, or None."""
    return db.scalars(
        select(Record).where(
            Record.id == record_id, Record.subject_id == subject_id, Record.status == "current"
        )
    ).one_or_none()


def current_version(db: Session, provider_id: uuid.UUID, provider_record_id: str) -> Record | None:
    """The version of a provider's record that answers show now (None once withdrawn)."""
    return db.scalars(
        select(Record).where(
            Record.provider_id == provider_id,
            Record.provider_record_id == provider_record_id,
            Record.status == "current",
        )
    ).one_or_none()


def seal_for_record(
    parts: RightsParts,
    db: Session,
    row: SealedColumns,
    column: str,
    value: Any,
    record: Record,
) -> int:
    """Seal `value` into `row.column` under the record's epoch key; returns the data key id."""
    keys = parts.keys
    keys.today = parts.clock.today
    key_id = keys.active_key_id(db, wrapping_label_for(record.destroy_after))
    row.seal(column, value, parts.cipher, key_id)
    return key_id


def titles(catalog: Catalog, code: str) -> dict[str, str]:
    spec = catalog.get(code)
    return {
        "record_type": code,
        "title": spec.title if spec is not None else code,
        "title_zh": spec.title_zh if spec is not None else code,
    }


def own_records(db: Session, subject_id: uuid.UUID, catalog: Catalog) -> list[dict[str, Any]]:
    """The current versions of the subject's records, by kind and date, without their
    contents (nothing sealed is opened): what an objection or a statement can be about."""
    rows = db.execute(
        select(Record.id, Record.record_type, Record.occurred_on, Record.display_until)
        .where(Record.subject_id == subject_id, Record.status == "current")
        .order_by(Record.category, Record.occurred_on, Record.id)
    ).all()
    return [
        {
            "id": str(record_id),
            **titles(catalog, code),
            "occurred_on": occurred_on.isoformat(),
            "display_until": None if display_until is None else display_until.isoformat(),
        }
        for record_id, code, occurred_on, display_until in rows
    ]
