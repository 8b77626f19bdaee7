"""OAuth 2.0 for institutions: client credentials with `private_key_jwt`, revocation, bearer.

Token endpoint (RFC 6749 §4.4 with RFC 7523 client authentication), guarantees:
- the request is form parameters only: each parameter at most once (§3.2), none in the query
  string, no second authentication method (`client_secret`, an `Authorization` header)
  → `invalid_request`; `grant_type` other than `client_credentials` → `unsupported_grant_type`;
- the client authenticates with a `private_key_jwt` assertion checked by
  `app.services.oauth.client_assertion` (every rule listed there); an unknown, disabled,
  suspended (by a review case) or badly
  authenticated client gets one generic `invalid_client` (401) whatever failed;
- the token's scopes are the requested ones, all of which must be registered for the
  institution (else `invalid_scope`; nothing is silently dropped); no `scope` means every
  registered scope;
- the access token is 256 random bits (urlsafe), stored only as its SHA-256, lives exactly
  `TOKEN_LIFETIME` (600 s, never more), and is answered with `Cache-Control: no-store`;
- every request is an `AttemptLog` row (method `oauth`, username key of the client id named in
  the assertion, outcome, reason, address) in the same transaction; a client id or address
  with `MAX_FAILURES` failures in the last minute gets 429 before anything is verified; never
  a global limit;
- no assertion, access token or claim value reaches a log line or an error body.

Revocation (RFC 7009) authenticates the client the same way and revokes only that client's
own tokens; it answers 200 for an unknown token.

Bearer authentication (RFC 6750): `authenticate_bearer`, re-exported from
`app.services.oauth.bearer`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AccessToken, Institution
from app.models.base import utcnow
from app.services.auth.login_attempts import AttemptLog, Method, Outcome, Reason
from app.services.oauth.bearer import (
    MAX_TOKEN_CHARS,
    BearerRefused,
    InstitutionPrincipal,
    authenticate_bearer,
    token_hash,
)
from app.services.oauth.client_assertion import (
    ASSERTION_TYPE,
    AssertionRefused,
    peek_client_id,
    verify_assertion,
)
from app.services.oauth.institutions import Status, load_public_key
from app.services.querylog.attempt import Parts

__all__ = [
    "TOKEN_PATH",
    "BearerRefused",
    "InstitutionPrincipal",
    "IssuedToken",
    "OAuthFailure",
    "OAuthService",
    "TokenRequest",
    "authenticate_bearer",
]

log = logging.getLogger("creditgate.auth")

TOKEN_PATH = "/api/v1/oauth/token"  # noqa: S105 - a URL path, not a password
REVOKE_PATH = "/api/v1/oauth/revoke"
GRANT_TYPE = "client_credentials"
TOKEN_LIFETIME = timedelta(seconds=600)
MAX_PARAMETER_CHARS = 8192
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3

T = TypeVar("T")


@dataclass(frozen=True)
class OAuthFailure:
    """An RFC 6749 §5.2 error answer (or 429); the description names no failed check."""

    error: str
    description: str
    status: int = 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


INVALID_CLIENT = OAuthFailure("invalid_client", "Client authentication failed.", 401)
THROTTLED = OAuthFailure(
    "too_many_attempts", "Too many failed attempts. Wait a minute and try again.", 429
)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int
    scope: str

    def body(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class TokenRequest:
    """What the web layer hands over: the body's parameters (every value, so repeats are
    seen), the client address, the audiences an assertion may name, and transport facts."""

    params: Mapping[str, Sequence[str]] = field(repr=False)
    address: str
    audiences: tuple[str, ...]
    authorization_header: bool = False
    query_parameters: bool = False


class _Refused(Exception):
    def __init__(self, failure: OAuthFailure, reason: Reason, client: str = "unknown") -> None:
        super().__init__(failure.error)
        self.failure = failure
        self.reason = reason
        self.client = client


def _invalid_request(description: str) -> _Refused:
    return _Refused(OAuthFailure("invalid_request", description), Reason.BAD_REQUEST)


class OAuthService:
    """The token and revocation endpoints' rules; the caller owns the (single) transaction,
    which must commit whatever is returned, so that failures are recorded and jtis consumed."""

    def __init__(self, attempts: AttemptLog) -> None:
        self.attempts = attempts

    def token(self, db: Session, request: TokenRequest) -> IssuedToken | OAuthFailure:
        return self._attempt(db, request, "token", lambda: self._issue(db, request))

    def revoke(self, db: Session, request: TokenRequest) -> OAuthFailure | None:
        return self._attempt(db, request, "revoke", lambda: self._revoke(db, request))

    def _attempt(
        self, db: Session, request: TokenRequest, endpoint: str, action: Callable[[], T]
    ) -> T | OAuthFailure:
        assertions = request.params.get("client_assertion", ())
        hint = peek_client_id(assertions[0]) if len(assertions) == 1 else None
        username_key = self.attempts.username_key(hint or "")

        def record(outcome: Outcome, reason: Reason) -> None:
            self.attempts.record(
                db,
                username_key=username_key,
                account_id=None,
                method=Method.OAUTH,
                outcome=outcome,
                reason=reason,
                address=request.address,
            )

        if self.attempts.throttled(db, username_key, request.address):
            record(Outcome.THROTTLED, Reason.TOO_MANY_FAILURES)
            log.warning("oauth %s throttled", endpoint)
            return THROTTLED
        try:
            result = action()
        except _Refused as refused:
            record(Outcome.FAILURE, refused.reason)
            log.info(
                "oauth %s refused: %s (client %s, %s)",
                endpoint,
                refused.failure.error,
                refused.client,
                refused.reason.value,
            )
            return refused.failure
        record(Outcome.SUCCESS, Reason.OK)
        return result

    def _issue(self, db: Session, request: TokenRequest) -> IssuedToken:
        params = _single_values(request)
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise _invalid_request("grant_type is required.")
        if grant_type != GRANT_TYPE:
            raise _Refused(
                OAuthFailure("unsupported_grant_type", "Only client_credentials is supported."),
                Reason.BAD_REQUEST,
            )
        institution = _authenticate(db, params, request.audiences)
        scopes = _granted_scopes(params.get("scope"), institution)
        token = secrets.token_urlsafe(32)
        db.add(
            AccessToken(
                token_hash=token_hash(token),
                institution_id=institution.id,
                scopes=" ".join(scopes),
                expires_at=utcnow() + TOKEN_LIFETIME,
            )
        )
        db.flush()
        log.info("oauth token issued to %s (scope %s)", institution.client_id, " ".join(scopes))
        return IssuedToken(
            access_token=token,
            expires_in=int(TOKEN_LIFETIME.total_seconds()),
            scope=" ".join(scopes),
        )

    def _revoke(self, db: Session, request: TokenRequest) -> None:
        params = _single_values(request)
        institution = _authenticate(db, params, request.audiences)
        token = params.get("token")
        if not token:
            raise _invalid_request("token is required.")
        if len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return  # not one of ours; RFC 7009 §2.2 answers 200 all the same
        row = db.get(AccessToken, token_hash(token))
        if row is not None and row.institution_id == institution.id and row.revoked_at is None:
            row.revoked_at = utcnow()
            db.flush()
            log.info("oauth token revoked by %s", institution.client_id)


def _single_values(request: TokenRequest) -> dict[str, str]:
    if request.query_parameters:
        raise _invalid_request("Send parameters in the form-encoded body, not in the URL.")
    if request.authorization_header or "client_secret" in request.params:
        raise _invalid_request("Authenticate with private_key_jwt only.")
    single: dict[str, str] = {}
    for name, values in request.params.items():
        if len(values) != 1:
            raise _invalid_request("A parameter is repeated.")
        if len(values[0]) > MAX_PARAMETER_CHARS:
            raise _invalid_request("A parameter is too long.")
        single[name] = values[0]
    return single


def _authenticate(db: Session, params: Mapping[str, str], audiences: Sequence[str]) -> Institution:
    """The institution that signed this request's client assertion, or `invalid_client`."""
    assertion_type = params.get("client_assertion_type")
    assertion = params.get("client_assertion")
    if assertion_type != ASSERTION_TYPE or not assertion:
        raise _Refused(INVALID_CLIENT, Reason.BAD_CLIENT_ASSERTION)
    client_id = peek_client_id(assertion)
    if client_id is None:
        raise _Refused(INVALID_CLIENT, Reason.BAD_CLIENT_ASSERTION)
    if params.get("client_id", client_id) != client_id:  # RFC 7521 §4.2: must match
        raise _Refused(INVALID_CLIENT, Reason.BAD_CLIENT_ASSERTION)
    institution = db.scalar(select(Institution).where(Institution.client_id == client_id))
    if institution is None:
        raise _Refused(INVALID_CLIENT, Reason.UNKNOWN_ACCOUNT)
    if institution.status != Status.ACTIVE.value or institution.suspended_at is not None:
        raise _Refused(INVALID_CLIENT, Reason.DISABLED_ACCOUNT, institution.client_id)
    key = load_public_key(institution.public_key_pem.encode("ascii"))
    try:
        verify_assertion(
            db,
            assertion,
            client_id=institution.client_id,
            public_key_pem=key.pem,
            algorithm=key.algorithm,
            audiences=audiences,
        )
    except AssertionRefused as refused:
        log.info("client assertion of %s refused: %s", institution.client_id, refused.rule)
        raise _Refused(INVALID_CLIENT, Reason.BAD_CLIENT_ASSERTION, institution.client_id) from None
    return institution


def _granted_scopes(requested: str | None, institution: Institution) -> tuple[str, ...]:
    registered = set(institution.scopes.split())
    if requested is None or not requested.strip():
        return tuple(sorted(registered))
    wanted = set(requested.split(" "))
    if "" in wanted or not all(_SCOPE_TOKEN.fullmatch(scope) for scope in wanted):
        raise _invalid_request("scope is a space-separated list of scope tokens.")
    if not wanted <= registered:
        raise _Refused(
            OAuthFailure("invalid_scope", "A requested scope is not granted to this client."),
            Reason.BAD_SCOPE,
            institution.client_id,
        )
    return tuple(sorted(wanted))


class InstitutionTokens:
    """The OAuth endpoints as use cases: each call runs in one unit of work of its own, which
    commits whatever the answer is (failures recorded, assertion jtis consumed)."""

    def __init__(self, parts: Parts, attempts: AttemptLog) -> None:
        self.parts = parts
        self.service = OAuthService(attempts)

    def token(self, request: TokenRequest) -> IssuedToken | OAuthFailure:
        with self.parts.unit() as db:
            return self.service.token(db, request)

    def revoke(self, request: TokenRequest) -> OAuthFailure | None:
        with self.parts.unit() as db:
            return self.service.revoke(db, request)

    def bearer(self, authorization_header: str | None, scope: str | None) -> InstitutionPrincipal:
        """`authenticate_bearer` in a unit of its own (`BearerRefused` when refused)."""
        with self.parts.unit() as db:
            return authenticate_bearer(db, authorization_header, required_scope=scope)
