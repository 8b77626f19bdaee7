"""Consent tokens (ARCHITECTURE §5): a subject's signed authorization for one institution.

A row is the server's memory of one token, keyed by its `jti`: who signed it (`subject_id`,
`card_thumbprint`), for whom (`client_id`), for what (`purpose`, `scope`), how long and how
often (`issued_at`, `expires_at`, `max_uses`), how often it was used (`uses`) and whether the
subject revoked it. Its SHA-256 (`token_sha256`) recognises a jti presented again with different
bytes as a replay; the token itself (`token`, the compact JWS: no ID number, no credit data) is
kept so that a compliance officer can verify its signature again (migration 0071; NULL for
consents registered before). `uses` only ever grows by
one conditional UPDATE (`uses < max_uses AND revoked_at IS NULL`); a CHECK keeps it in range.

`consent_revocations` holds every revocation a subject made, by jti, whether or not the token was
ever registered: a subject can revoke a token they signed before any institution used it. A
revocation binds only tokens whose `sub` is that subject, so nobody can revoke another's.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses"),
        CheckConstraint("max_uses >= 1", name="max_uses"),
    )

    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    token_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))  # sorted categories, comma-separated
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    card_thumbprint: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    token: Mapped[str | None] = mapped_column(Text)


class ConsentRevocation(Base):
    """The subject `subject_id` revoked the consent token `jti` at `revoked_at` (first time)."""

    __tablename__ = "consent_revocations"

    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
