"""What a subject sees of their consents and revocations: no token, no card thumbprint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import Consent
from app.models.base import as_utc


@dataclass(frozen=True)
class ConsentView:
    """A consent as its subject sees it (no token, no card thumbprint)."""

    jti: str
    institution: str  # client id
    purpose: str
    scope: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    revoked_at: datetime | None
    registered_at: datetime

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "used_up" if self.uses >= self.max_uses else "active"

    def as_json(self, now: datetime) -> dict[str, object]:
        return {
            "jti": self.jti,
            "institution": self.institution,
            "purpose": self.purpose,
            "scope": list(self.scope),
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "max_uses": self.max_uses,
            "uses": self.uses,
            "uses_left": max(0, self.max_uses - self.uses),
            "revoked": self.revoked_at is not None,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "status": self.status(now),
        }


@dataclass(frozen=True)
class Revocation:
    """A subject's revocation of a jti; `consent` only if that subject registered it."""

    jti: str
    revoked_at: datetime
    consent: ConsentView | None

    def as_json(self, now: datetime) -> dict[str, object]:
        return {
            "consent": None if self.consent is None else self.consent.as_json(now),
            "revocation": {"jti": self.jti, "revoked_at": self.revoked_at.isoformat()},
        }


def consent_view(row: Consent, revoked_at: datetime | None = None) -> ConsentView:
    revoked = row.revoked_at if row.revoked_at is not None else revoked_at
    return ConsentView(
        jti=row.jti,
        institution=row.client_id,
        purpose=row.purpose,
        scope=tuple(row.scope.split(",")),
        issued_at=as_utc(row.issued_at),
        expires_at=as_utc(row.expires_at),
        max_uses=row.max_uses,
        uses=row.uses,
        revoked_at=None if revoked is None else as_utc(revoked),
        registered_at=as_utc(row.registered_at),
    )
