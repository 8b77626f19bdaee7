"""Issued PDF reports: their verification references and the record of every PDF handed out.

A reference is 100 random bits written as 20 Crockford base32 characters in five groups
(`7KQ2-M9XD-...`), printed on every page of the PDF. Guarantees:
- references come from `secrets` and are unguessable; only their SHA-256 is stored, so the
  table alone does not let anyone print a "valid" reference on a forged paper copy;
- `parse_reference` accepts what a person types (any case, spaces or hyphens anywhere, O for
  0, I and L for 1) and refuses anything that cannot be a reference (`BadReference`);
- `record` writes one row per issued PDF in the caller's unit of work (with the query it
  answers), holding the reference's hash, the report id, the report kind, the SHA-256 of the
  signed file and the issue time: nothing about the subject or the report's content.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from app.models.base import as_utc
from app.models.reports import IssuedReport

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
REFERENCE_CHARS = 20  # 100 bits
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_TABLE = cast(Table, IssuedReport.__table__)


class BadReference(ValueError):
    """Not a reference: the message says what one looks like (never echoes the input)."""


def new_reference() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(REFERENCE_CHARS))
    return "-".join(chars[i : i + 4] for i in range(0, REFERENCE_CHARS, 4))


def parse_reference(typed: str) -> str:
    """The canonical form (five hyphenated groups of four) of a typed reference."""
    if not isinstance(typed, str) or len(typed) > 64:
        raise BadReference("A reference is 20 letters and digits, e.g. 7KQ2-M9XD-...")
    chars = typed.upper().translate(_TYPED)
    if len(chars) != REFERENCE_CHARS or any(c not in ALPHABET for c in chars):
        raise BadReference("A reference is 20 letters and digits, e.g. 7KQ2-M9XD-...")
    return "-".join(chars[i : i + 4] for i in range(0, REFERENCE_CHARS, 4))


def reference_hash(reference: str) -> bytes:
    return hashlib.sha256(parse_reference(reference).encode("ascii")).digest()


@dataclass(frozen=True)
class Issued:
    """One issued PDF, as recorded."""

    reference_hash: bytes
    report_id: uuid.UUID
    kind: str
    document_sha256: bytes
    issued_at: datetime


def record(connection: Connection, issued: Issued) -> None:
    """Record an issued PDF in the caller's unit of work."""
    connection.execute(
        insert(_TABLE).values(
            reference_hash=issued.reference_hash,
            report_id=issued.report_id,
            kind=issued.kind,
            document_sha256=issued.document_sha256,
            issued_at=issued.issued_at,
        )
    )


def _issued(row: Sequence[Any]) -> Issued:
    reference, report_id, kind, digest, at = row
    return Issued(bytes(reference), report_id, str(kind), bytes(digest), as_utc(at))


_COLUMNS = (
    _TABLE.c.reference_hash,
    _TABLE.c.report_id,
    _TABLE.c.kind,
    _TABLE.c.document_sha256,
    _TABLE.c.issued_at,
)


def by_document(connection: Connection, document_sha256: bytes) -> Issued | None:
    row = connection.execute(
        select(*_COLUMNS).where(_TABLE.c.document_sha256 == document_sha256)
    ).first()
    return None if row is None else _issued(row)


def by_reference(connection: Connection, reference: str, report_id: uuid.UUID) -> Issued | None:
    """The issued PDF with this reference *and* report id, or None (either one wrong)."""
    row = connection.execute(
        select(*_COLUMNS).where(_TABLE.c.reference_hash == reference_hash(reference))
    ).first()
    if row is None:
        return None
    found = _issued(row)
    same = hmac.compare_digest(found.report_id.bytes, report_id.bytes)
    return found if same else None
