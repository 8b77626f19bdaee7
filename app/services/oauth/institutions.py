"""Institutions (banks, employers, landlords): registration, key rotation, disabling.

Guarantees:
- an institution is registered only under a valid unified social credit code (GB 32100-2015,
  `policies.identifiers.parse_credit_code`); a bad code is refused naming the failing part;
  one institution per credit code;
- a key registered or rotated to is an EC P-256 key (assertions signed ES256); an RSA key of
  2048 to 8192 bits (RS256) is still honoured for institutions enrolled before the cut-off;
  DSA, other curves, Ed25519, short RSA keys, private keys and certificates are refused
  with a message that never echoes the file's content; the key is stored as normalised
  SubjectPublicKeyInfo PEM;
- its client id is `inst-` + 16 random hex digits, never derived from the credit code;
- scopes come from the closed vocabulary `SCOPES` (defined here and nowhere else);
- disabling an institution or rotating its key revokes every live access token it holds, in
  the same unit of work (bearer authentication also refuses a disabled institution's tokens);
- a review case's outcome suspends an institution (`suspend`): its live tokens are revoked in
  the case's unit of work, bearer authentication refuses any token of a suspended
  institution and the token endpoint issues it none, until another reviewed case lifts the
  suspension (`lift_suspension`).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import AccessToken, Institution
from app.models.base import utcnow
from policies.identifiers import InvalidIdentifier, parse_credit_code

CLIENT_ID_PREFIX = "inst-"
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
MAX_NAME_LENGTH = 200
MAX_KEY_FILE_BYTES = 16 * 1024


class Scope(StrEnum):
    """What an institution's access token may be used for (each scope is bound to actions)."""

    REPORT_QUERY = "institution:report:query"
    CONSENT_VERIFY = "institution:consent:verify"
    PROVIDER_SUBMIT = "provider:records:submit"  # a data provider furnishing records
    STATISTICS_READ = "statistics:read"  # a government or regulator's aggregate statistics
    GOVERNMENT_QUERY = "government:report:query"  # an agency querying on a legal basis


SCOPES: frozenset[str] = frozenset(scope.value for scope in Scope)


class Status(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class InstitutionError(ValueError):
    """A registration or administration request was refused; the message says why, and never
    contains key material."""


@dataclass(frozen=True)
class PublicKey:
    """A validated institution public key and the one JWS algorithm its assertions must use."""

    pem: str
    algorithm: str  # "ES256" or "RS256"
    description: str  # e.g. "EC P-256", "RSA 3072"


@dataclass(frozen=True)
class InstitutionView:
    """What administrators see of an institution (no key material beyond its kind)."""

    id: uuid.UUID
    client_id: str
    credit_code: str
    name: str
    scopes: tuple[str, ...]
    status: str
    suspended: bool
    key: str  # e.g. "EC P-256"
    algorithm: str  # the one JWS algorithm its assertions must use


def load_public_key(data: bytes) -> PublicKey:
    """Validate a PEM public key for `private_key_jwt` or raise `InstitutionError`."""
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InstitutionError("the public key file is too large to be a PEM public key")
    if b"PRIVATE KEY-----" in data:
        raise InstitutionError(
            "this file holds a private key; give the institution's PUBLIC key "
            "(the private key must never leave the institution)"
        )
    if b"-----BEGIN CERTIFICATE-----" in data:
        raise InstitutionError(
            "this file holds a certificate; extract its public key "
            "(openssl x509 -pubkey -noout -in CERT) and register that"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm:
        raise InstitutionError("unsupported public key algorithm") from None
    except (ValueError, TypeError):
        raise InstitutionError(
            "not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')"
        ) from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InstitutionError(
                f"EC keys must be on P-256 (ES256); this one is on {key.curve.name}"
            )
        algorithm, description = "ES256", "EC P-256"
    elif isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise InstitutionError(
                f"RSA keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits; "
                f"this one has {key.key_size}"
            )
        algorithm, description = "RS256", f"RSA {key.key_size}"
    else:
        raise InstitutionError(
            f"only EC P-256 and RSA (>= {MIN_RSA_BITS} bits) keys are accepted, not {_kind(key)}"
        )
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return PublicKey(pem=pem, algorithm=algorithm, description=description)


#: Keys newly registered or rotated to are EC P-256 (ES256): RS256 with an RSA key is kept
#: only for institutions and providers enrolled before the cut-off (docs/keys.md).
NEW_KEY_ALGORITHMS = ("ES256",)


def load_new_public_key(data: bytes) -> PublicKey:
    """`load_public_key` for a key being enrolled now: EC P-256 only."""
    key = load_public_key(data)
    if key.algorithm not in NEW_KEY_ALGORITHMS:
        raise InstitutionError(
            f"new keys must be EC P-256 (ES256); {key.description} keys are kept only for "
            "institutions enrolled before 2026-12-05"
        )
    return key


def _kind(key: object) -> str:
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    if isinstance(key, x25519.X25519PublicKey | x448.X448PublicKey):
        return "X25519/X448 (key agreement only)"
    return "this kind of key"


def parse_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Distinct scopes from the vocabulary, sorted; an unknown one is refused by name."""
    chosen = {scope.strip() for scope in scopes if scope.strip()}
    unknown = sorted(chosen - SCOPES)
    if unknown:
        raise InstitutionError(
            f"unknown scope {unknown[0]!r}; known scopes: {', '.join(sorted(SCOPES))}"
        )
    if not chosen:
        raise InstitutionError("at least one scope is required")
    return tuple(sorted(chosen))


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_hex(8)


def _view(institution: Institution) -> InstitutionView:
    key = load_public_key(institution.public_key_pem.encode("ascii"))
    return InstitutionView(
        id=institution.id,
        client_id=institution.client_id,
        credit_code=institution.credit_code,
        name=institution.name,
        scopes=tuple(institution.scopes.split()),
        status=institution.status,
        suspended=institution.suspended_at is not None,
        key=key.description,
        algorithm=key.algorithm,
    )


class InstitutionService:
    """Use cases for the `flask institutions` commands; the caller owns the transaction."""

    def register(
        self,
        db: Session,
        *,
        credit_code: str,
        name: str,
        public_key_pem: bytes,
        scopes: Iterable[str],
    ) -> InstitutionView:
        try:
            code = parse_credit_code(credit_code).value
        except InvalidIdentifier as exc:
            raise InstitutionError(f"{exc} (part: {exc.part})") from None
        clean_name = " ".join(name.split())
        if not clean_name or len(clean_name) > MAX_NAME_LENGTH:
            raise InstitutionError(f"the name must have 1 to {MAX_NAME_LENGTH} characters")
        if not clean_name.isprintable():
            raise InstitutionError("the name contains control characters")
        key = load_new_public_key(public_key_pem)
        chosen = parse_scopes(scopes)
        existing = db.scalar(select(Institution).where(Institution.credit_code == code))
        if existing is not None:
            raise InstitutionError(
                f"an institution with this credit code is already registered "
                f"(client id {existing.client_id})"
            )
        institution = Institution(
            credit_code=code,
            name=clean_name,
            client_id=new_client_id(),
            public_key_pem=key.pem,
            scopes=" ".join(chosen),
            status=Status.ACTIVE.value,
        )
        db.add(institution)
        db.flush()
        return _view(institution)

    def list_all(self, db: Session) -> list[InstitutionView]:
        rows = db.scalars(select(Institution).order_by(Institution.created_at, Institution.id))
        return [_view(row) for row in rows]

    def get(self, db: Session, client_id: str) -> InstitutionView:
        return _view(self._find(db, client_id))

    def disable(self, db: Session, client_id: str) -> int:
        """Disable the institution; returns how many live access tokens were revoked."""
        institution = self._find(db, client_id)
        institution.status = Status.DISABLED.value
        return self._revoke_live_tokens(db, institution.id)

    def rotate_key(self, db: Session, client_id: str, public_key_pem: bytes) -> int:
        """Replace the institution's key; returns how many live access tokens were revoked
        (a rotation is often prompted by a suspected compromise)."""
        institution = self._find(db, client_id)
        key = load_new_public_key(public_key_pem)
        if key.pem == institution.public_key_pem:
            raise InstitutionError("this is the key already registered; nothing to rotate")
        institution.public_key_pem = key.pem
        return self._revoke_live_tokens(db, institution.id)

    def suspend(self, db: Session, client_id: str, case_id: uuid.UUID, now: datetime) -> int:
        """Suspend the institution by the case `case_id`; returns how many live access tokens
        were revoked."""
        institution = self._find(db, client_id)
        if institution.suspended_at is not None:
            raise InstitutionError("this institution is suspended already")
        institution.suspended_at, institution.suspended_by_case = now, case_id
        return self._revoke_live_tokens(db, institution.id)

    def lift_suspension(self, db: Session, client_id: str) -> None:
        institution = self._find(db, client_id)
        if institution.suspended_at is None:
            raise InstitutionError("this institution is not suspended")
        institution.suspended_at, institution.suspended_by_case = None, None
        db.flush()

    @staticmethod
    def _find(db: Session, client_id: str) -> Institution:
        found = db.scalar(select(Institution).where(Institution.client_id == client_id.strip()))
        if found is None:
            raise InstitutionError("no institution has this client id")
        return found

    @staticmethod
    def _revoke_live_tokens(db: Session, institution_id: uuid.UUID) -> int:
        now = utcnow()
        result = db.execute(
            update(AccessToken)
            .where(
                AccessToken.institution_id == institution_id,
                AccessToken.revoked_at.is_(None),
                AccessToken.expires_at > now,
            )
            .values(revoked_at=now)
        )
        db.flush()
        return int(getattr(result, "rowcount", 0) or 0)
