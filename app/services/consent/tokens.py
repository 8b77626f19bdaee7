"""Reading and verifying a consent token (ARCHITECTURE §5) without touching the database.

A consent token is a compact JWS (`header.payload.signature`, base64url) signed on the
subject's smart card. Guarantees:

- `parse` refuses anything that is not a compact JWS of at most `MAX_TOKEN_CHARS` characters
  whose header is a JSON object with `alg` ES256 or RS256 (never `none`, HS*, PS* or anything
  else) and a `kid` of 64 lowercase hex digits (the card certificate's SHA-256 thumbprint);
  `crit`, `jku`, `jwk`, `x5u` and `x5c` headers are refused, never consulted;
- `verify_signature` checks the signature with joserfc (as authlib does) under the public key of
  the given card certificate, with the algorithm pinned to the one that key implies (ES256 for
  EC P-256, RS256 for RSA), so an `alg` that does not fit the key is a forgery;
- `check_claims` checks every claim of §5 and names the first rule broken;
- nothing here logs, and no refusal carries the token or a claim value.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from app import strict_json

MAX_TOKEN_CHARS = 8192
ALGORITHMS = frozenset({"ES256", "RS256"})
CATEGORIES = frozenset({"A", "B", "C", "D"})
SKEW = timedelta(seconds=60)
_KID = re.compile(r"[0-9a-f]{64}")
#: A consent token's jti: 16 to 128 characters of the URL-safe alphabet.
JTI = re.compile(r"[A-Za-z0-9_-]{16,128}")
_SUB = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_FORBIDDEN_HEADERS = frozenset({"crit", "jku", "jwk", "x5u", "x5c"})


class ConsentRefused(Exception):
    """The consent token is refused for `reason` (a short snake_case code, safe to show and to
    log; the token and its claims are never part of it). `verified_jti` is the token's jti
    when its signature had verified before it was refused (expired, revoked, used up, for
    another purpose…), and None otherwise: a forged or malformed token's jti is whatever its
    sender wrote, and is never recorded."""

    def __init__(self, reason: str, *, verified_jti: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.verified_jti = verified_jti


def verified_jti(claims: dict[str, Any]) -> str | None:
    """The jti of claims whose signature verified, if it is well-formed."""
    jti = claims.get("jti")
    return jti if isinstance(jti, str) and JTI.fullmatch(jti) else None


@dataclass(frozen=True)
class ParsedToken:
    """A token's unverified header facts: only to find the key to verify it with."""

    token: str
    alg: str
    kid: str


@dataclass(frozen=True)
class ConsentClaims:
    """The verified claims of a consent token."""

    aud: str
    sub: str
    purpose: str
    scope: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    jti: str
    max_uses: int


def _b64url_json(part: str) -> Any:
    if not _B64URL.fullmatch(part):
        raise ConsentRefused("malformed")
    try:
        return strict_json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        raise ConsentRefused("malformed") from None


def parse(token: object) -> ParsedToken:
    """The token's `alg` and `kid` if it is shaped like a consent token; `ConsentRefused`
    ("malformed") otherwise. Nothing is verified here."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise ConsentRefused("malformed")
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL.fullmatch(part) for part in parts):
        raise ConsentRefused("malformed")
    header = _b64url_json(parts[0])
    if not isinstance(header, dict) or _FORBIDDEN_HEADERS & header.keys():
        raise ConsentRefused("malformed")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise ConsentRefused("malformed")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise ConsentRefused("malformed")
    return ParsedToken(token=token, alg=alg, kid=kid)


def key_algorithm(certificate_der: bytes) -> str | None:
    """The one JWS algorithm a card certificate's key may sign consent tokens with."""
    try:
        key = x509.load_der_x509_certificate(certificate_der).public_key()
    except ValueError:
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    return None


def verify_signature(parsed: ParsedToken, certificate_der: bytes) -> dict[str, Any]:
    """The token's claims if its signature verifies under the certificate's key with the
    algorithm that key implies; `ConsentRefused("forged_signature")` otherwise."""
    algorithm = key_algorithm(certificate_der)
    if algorithm is None or parsed.alg != algorithm:
        raise ConsentRefused("forged_signature")
    public = x509.load_der_x509_certificate(certificate_der).public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    key = ECKey.import_key(pem) if algorithm == "ES256" else RSAKey.import_key(pem)
    try:
        decoded = jwt.decode(parsed.token, key, algorithms=[algorithm])
    except (JoseError, ValueError, TypeError):
        raise ConsentRefused("forged_signature") from None
    if decoded.header.get("alg") != algorithm:
        raise ConsentRefused("forged_signature")
    claims: dict[str, Any] = dict(decoded.claims)
    return claims


def _numeric_date(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConsentRefused("malformed")
    if not math.isfinite(value) or not 0 < value < 2**33:
        raise ConsentRefused("malformed")
    return datetime.fromtimestamp(int(value), UTC)


def check_claims(
    claims: dict[str, Any],
    *,
    purposes: Collection[str],
    max_days: int,
    max_uses: int,
    now: datetime,
) -> ConsentClaims:
    """The claims as `ConsentClaims` if each is present, well-formed and within the policy's
    bounds; `ConsentRefused("malformed" | "expired" | "not_yet_valid" | "too_long" |
    "wrong_purpose")` naming the first rule broken. Audience and subject are the caller's to
    compare (they depend on who asks about whom)."""
    aud, sub, purpose, scope = (claims.get(k) for k in ("aud", "sub", "purpose", "scope"))
    jti, uses = claims.get("jti"), claims.get("max_uses")
    if not isinstance(aud, str) or not 0 < len(aud) <= 64:
        raise ConsentRefused("malformed")
    if not isinstance(sub, str) or not _SUB.fullmatch(sub):
        raise ConsentRefused("malformed")
    if not isinstance(jti, str) or not JTI.fullmatch(jti):
        raise ConsentRefused("malformed")
    if not isinstance(scope, list) or not scope or not all(isinstance(c, str) for c in scope):
        raise ConsentRefused("malformed")
    categories = frozenset(scope)
    if len(categories) != len(scope) or not categories <= CATEGORIES:
        raise ConsentRefused("malformed")
    if isinstance(uses, bool) or not isinstance(uses, int) or not 1 <= uses <= max_uses:
        raise ConsentRefused("malformed")
    if not isinstance(purpose, str):
        raise ConsentRefused("malformed")
    issued_at, expires_at = _numeric_date(claims.get("iat")), _numeric_date(claims.get("exp"))
    if purpose not in purposes:
        raise ConsentRefused("wrong_purpose")
    if issued_at > now + SKEW:
        raise ConsentRefused("not_yet_valid")
    if expires_at <= issued_at or expires_at - issued_at > timedelta(days=max_days):
        raise ConsentRefused("too_long")
    if expires_at <= now:
        raise ConsentRefused("expired")
    return ConsentClaims(
        aud=aud,
        sub=sub,
        purpose=purpose,
        scope=categories,
        issued_at=issued_at,
        expires_at=expires_at,
        jti=jti,
        max_uses=uses,
    )
