"""Shared helpers for the billing tests: institutions without keys, and a blind index."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy.orm import Session

from app.models import Institution


def add_institution(db: Session, name: str = "Test Bank") -> Institution:
    institution = Institution(
        credit_code=secrets.token_hex(9)[:18].upper(),
        name=name,
        client_id=f"cg-test-{secrets.token_hex(8)}",
        public_key_pem="unused",
        scopes="institution:report:query",
        status="active",
    )
    db.add(institution)
    db.flush()
    return institution


def bidx(label: str = "subject") -> bytes:
    return hashlib.sha256(label.encode()).digest()


def new_id() -> uuid.UUID:
    return uuid.uuid4()
