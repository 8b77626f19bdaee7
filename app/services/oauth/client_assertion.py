"""`private_key_jwt` client assertions (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

Verification goes through authlib's RFC 7523 machinery (`JWTBearerClientAssertion`, on
joserfc), with the algorithm pinned and the rules below made explicit. An assertion is accepted
only if every one holds:

- it is a compact JWS no longer than `MAX_ASSERTION_CHARS`, signed with the institution's
  registered key under exactly the algorithm that key implies (ES256 for EC P-256, RS256 for
  RSA); `none`, HS*, PS*, other curves and an `alg` that does not match the key are refused;
  `kid`, `jku`, `x5u` and embedded keys in the header are never consulted;
- `iss` = `sub` = the institution's client id;
- `aud` is a single string (not an array: multi-valued audiences are what the 2025
  audience-injection findings behind draft-ietf-oauth-rfc7523bis exploit) equal to one of the
  audiences the endpoint names: the absolute URL of the token endpoint as the service is
  reached (see `app.web.oauth`);
- `exp` is a NumericDate in the future (`LEEWAY` seconds of clock skew) and at most
  `MAX_LIFETIME` (+ `LEEWAY`) seconds ahead, so a captured assertion is worthless within
  minutes; `iat` and `nbf`, when present, are not in the future (same leeway);
- `jti` is a string of 1 to `MAX_JTI_CHARS` characters never accepted before for this client:
  it is inserted into `client_assertion_uses` inside a SAVEPOINT, so of two concurrent requests
  with one jti exactly one passes (the primary key decides); the row is kept until the
  assertion could no longer be accepted (exp + leeway), and the client's expired rows are
  purged opportunistically. The jti is consumed only after the signature and every other claim
  have passed, so a forged or expired assertion cannot burn a legitimate one's jti.

`AssertionRefused.rule` names the failed rule for the attempt log's internal detail and for
tests; it is never sent to the client, and neither the assertion nor its claims are logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeGuard

from authlib.oauth2.rfc6749 import InvalidClientError  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ClientAssertionUse
from app.models.base import utcnow

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEEWAY = 30
MAX_LIFETIME = 300
MAX_ASSERTION_CHARS = 8192
MAX_JTI_CHARS = 128
MAX_CLIENT_ID_CHARS = 64
ALGORITHMS = frozenset({"ES256", "RS256"})


class AssertionRefused(Exception):
    """The client assertion breaks `rule` (internal detail; the client learns only
    `invalid_client`)."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def peek_client_id(assertion: str) -> str | None:
    """The assertion's *unverified* `sub`: only to find the key to verify it with and to pick
    the throttle bucket. None if the assertion is not even shaped like one."""
    if not assertion or len(assertion) > MAX_ASSERTION_CHARS:
        return None
    try:
        _headers, claims = JWTBearerClientAssertion().extract_assertion(assertion)
    except InvalidClientError:
        return None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_CLIENT_ID_CHARS:
        return None
    if not sub.isascii() or not sub.isprintable():
        return None
    return sub


class _Verifier(JWTBearerClientAssertion):  # type: ignore[misc]  # authlib ships no types
    """authlib's RFC 7523 claim checks plus ours; consumes the jti in the caller's session."""

    def __init__(self, db: Session, client_id: str, audiences: Sequence[str]) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY)
        self._db = db
        self._client_id = client_id
        self._audiences = list(audiences)
        self._replayed = False

    def get_audiences(self) -> list[str]:
        return self._audiences

    def verify_claims(self, claims: dict[str, Any]) -> None:
        # Our rules first: they must all pass before authlib's checks consume the jti.
        if claims.get("iss") != self._client_id or claims.get("sub") != self._client_id:
            raise AssertionRefused("iss_sub")
        if not isinstance(claims.get("aud"), str):
            raise AssertionRefused("aud_not_single")
        exp = claims.get("exp")
        if not _numeric_date(exp):
            raise AssertionRefused("exp")
        if exp > time.time() + MAX_LIFETIME + LEEWAY:
            raise AssertionRefused("exp_too_far")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
            raise AssertionRefused("jti")
        try:
            super().verify_claims(claims)  # iss, sub, aud, exp, iat, nbf, sub == iss, jti
        except InvalidClientError as exc:
            cause = exc.__cause__
            if self._replayed:
                rule = "jti_replayed"
            elif isinstance(cause, JoseError):  # e.g. "invalid_claim: Invalid claim: 'aud'"
                rule = f"{cause.error}: {cause.description}"
            else:
                rule = "claims"
            raise AssertionRefused(rule) from None

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        now = utcnow()
        self._db.execute(
            delete(ClientAssertionUse).where(
                ClientAssertionUse.client_id == self._client_id,
                ClientAssertionUse.expires_at < now,
            )
        )
        remember_until = datetime.fromtimestamp(float(claims["exp"]) + LEEWAY, UTC)
        try:
            with self._db.begin_nested():
                self._db.add(
                    ClientAssertionUse(
                        client_id=self._client_id, jti=jti, expires_at=remember_until
                    )
                )
                self._db.flush()
        except IntegrityError:
            self._replayed = True
            return False
        return True


def _numeric_date(value: object) -> TypeGuard[int | float]:
    return not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    )


def verify_assertion(
    db: Session,
    assertion: str,
    *,
    client_id: str,
    public_key_pem: str,
    algorithm: str,
    audiences: Sequence[str],
) -> dict[str, Any]:
    """Verify `assertion` for `client_id` under its registered key and consume its jti; returns
    the verified claims or raises `AssertionRefused`."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported registered algorithm {algorithm!r}")
    if not assertion or len(assertion) > MAX_ASSERTION_CHARS:
        raise AssertionRefused("size")
    key = (
        ECKey.import_key(public_key_pem)
        if algorithm == "ES256"
        else RSAKey.import_key(public_key_pem)
    )
    try:
        token = jwt.decode(assertion, key, algorithms=[algorithm])
    except (JoseError, ValueError, TypeError):
        raise AssertionRefused("signature") from None
    if token.header.get("alg") != algorithm:  # joserfc enforces it; say so explicitly too
        raise AssertionRefused("alg")
    claims: dict[str, Any] = dict(token.claims)
    _Verifier(db, client_id, audiences).verify_claims(claims)
    return claims
