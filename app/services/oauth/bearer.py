"""Bearer authentication of institutions (RFC 6750) with the access tokens of
`app.services.oauth.tokens`.

Guarantees: `authenticate_bearer` accepts only a token whose SHA-256 is on file, that has not
expired or been revoked, whose institution is active and not suspended by a review case (checked
at every request, so a suspension works at once), and that carries the required scope; refusals
carry the RFC 6750 error code, status and `WWW-Authenticate` challenge, and never the
token. Tokens in query strings or bodies are not looked at.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import AccessToken, Institution
from app.models.base import as_utc, utcnow
from app.services.oauth.institutions import SCOPES, Status

REALM = "creditgate"
MAX_TOKEN_CHARS = 128
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1


def token_hash(token: str) -> bytes:
    """The only form in which an access token is stored."""
    return hashlib.sha256(token.encode("ascii")).digest()


@dataclass(frozen=True)
class InstitutionPrincipal:
    """An institution authenticated by a live access token (the token itself is not kept)."""

    institution_id: uuid.UUID
    client_id: str
    name: str
    credit_code: str
    scopes: frozenset[str]
    token_expires_at: datetime


_BEARER_DESCRIPTIONS = {
    "invalid_request": "The request does not carry one well-formed bearer token.",
    "invalid_token": "The access token is invalid, expired or revoked.",
    "insufficient_scope": "The access token does not carry the scope this resource needs.",
}
_BEARER_STATUS = {"invalid_request": 400, "invalid_token": 401, "insufficient_scope": 403}


class BearerRefused(Exception):
    """Bearer authentication failed. `error` is None when no bearer credentials came at all
    (RFC 6750 §3.1: then the challenge carries no error code)."""

    def __init__(self, error: str | None, *, scope: str | None = None) -> None:
        super().__init__(error or "no_token")
        self.error = error
        self.scope = scope

    @property
    def status(self) -> int:
        return 401 if self.error is None else _BEARER_STATUS[self.error]

    @property
    def description(self) -> str:
        if self.error is None:
            return "A bearer access token is required."
        return _BEARER_DESCRIPTIONS[self.error]

    def www_authenticate(self) -> str:
        parts = [f'realm="{REALM}"']
        if self.error is not None:
            parts += [f'error="{self.error}"', f'error_description="{self.description}"']
        if self.scope is not None:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def body(self) -> dict[str, str]:
        return {"error": self.error or "invalid_token", "error_description": self.description}


def authenticate_bearer(
    db: Session, authorization_header: str | None, *, required_scope: str | None
) -> InstitutionPrincipal:
    """The institution holding this `Authorization: Bearer …` token, or `BearerRefused`.

    Accepted only if the token's hash is on file, it has not expired or been revoked, its
    institution is active, and it carries `required_scope` (None: any scope, for endpoints
    that only tell an institution about itself). Tokens in query strings or bodies are not
    looked at. The token is never logged.
    """
    if required_scope is not None and required_scope not in SCOPES:
        raise ValueError(f"unknown scope {required_scope!r}")
    header = (authorization_header or "").strip()
    scheme, _, credentials = header.partition(" ")
    if not header or scheme.lower() != "bearer":
        raise BearerRefused(None)
    token = credentials.strip()
    if len(token) > MAX_TOKEN_CHARS or not _B64TOKEN.fullmatch(token):
        raise BearerRefused("invalid_request")
    row = db.get(AccessToken, token_hash(token))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utcnow():
        raise BearerRefused("invalid_token")
    institution = db.get(Institution, row.institution_id)
    if (
        institution is None
        or institution.status != Status.ACTIVE.value
        or institution.suspended_at is not None  # a review case suspended it: at once
    ):
        raise BearerRefused("invalid_token")
    scopes = frozenset(row.scopes.split())
    if required_scope is not None and required_scope not in scopes:
        raise BearerRefused("insufficient_scope", scope=required_scope)
    return InstitutionPrincipal(
        institution_id=institution.id,
        client_id=institution.client_id,
        name=institution.name,
        credit_code=institution.credit_code,
        scopes=scopes,
        token_expires_at=as_utc(row.expires_at),
    )
