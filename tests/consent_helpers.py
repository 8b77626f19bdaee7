"""Consent-token test helpers: a subject with an account and an enrolled card, tokens signed
on a software card (the server only sees public keys and signatures, so this is an honest
stand-in; tests/unit/test_client_consent.py signs on real SoftHSM2 cards)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.demo.generator import SyntheticSubject, generate_providers, generate_subjects
from app.models import Account, Subject
from app.models.base import utcnow
from crypto.blind_index import BlindIndexKind, blind_index
from tests.logins import make_account
from tests.web.test_card_login import SoftCard, enrol_certificate, issue

TODAY = date(2026, 11, 21)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ingest_subjects(app: Flask, n: int = 3, seed: int = 7) -> list[SyntheticSubject]:
    parts = container(app)
    providers = generate_providers(seed)
    population = list(generate_subjects(n, seed, providers, parts.catalog, today=TODAY))
    service = parts.ingest()
    service.today = TODAY
    with parts.unit() as db:
        parts.ingest().register_providers(db, providers)
        service.ingest(db, population)
    return population


def subject_id_of(app: Flask, id_number: str) -> uuid.UUID:
    parts = container(app)
    bidx = blind_index(parts.key_provider, BlindIndexKind.CITIZEN_ID, id_number)
    with parts.sessions() as db:
        return db.scalars(select(Subject.id).where(Subject.id_bidx == bidx)).one()


@dataclass
class Signer:
    """A subject's account with an enrolled (software) card."""

    account: Account
    subject_id: uuid.UUID
    id_number: str
    card: SoftCard
    certificate: bytes

    @property
    def kid(self) -> str:
        return hashlib.sha256(self.certificate).hexdigest()


def signer_for(
    app: Flask, synthetic: SyntheticSubject, username: str, *, card: SoftCard | None = None
) -> Signer:
    subject_id = subject_id_of(app, synthetic.id_number)
    account = make_account(app, username, subject_id=subject_id)
    card = card if card is not None else SoftCard.ec()
    der = issue(app, username, card)
    enrol_certificate(app, account, der)
    return Signer(account, subject_id, synthetic.id_number, card, der)


def claims_for(
    signer: Signer,
    audience: str,
    purpose: str,
    *,
    days: int = 30,
    scope: tuple[str, ...] = ("A", "B", "C", "D"),
    max_uses: int = 5,
    now: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    moment = now or utcnow()
    claims: dict[str, Any] = {
        "aud": audience,
        "sub": str(signer.subject_id),
        "purpose": purpose,
        "scope": list(scope),
        "iat": int(moment.timestamp()),
        "exp": int((moment + timedelta(days=days)).timestamp()),
        "jti": secrets.token_urlsafe(18),
        "max_uses": max_uses,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_token(
    card: SoftCard, kid: str, claims: dict[str, Any], *, alg: str | None = None, **header: Any
) -> str:
    """A compact JWS over `claims`, signed with `card` (ES256 raw r||s or RS256)."""
    default = "ES256" if isinstance(card.key, ec.EllipticCurvePrivateKey) else "RS256"
    protected = {"alg": alg or default, "typ": "JWT", "kid": kid, **header}
    signing_input = (
        b64u(json.dumps(protected, separators=(",", ":")).encode())
        + "."
        + b64u(json.dumps(claims, separators=(",", ":")).encode())
    )
    return signing_input + "." + b64u(card.sign(signing_input.encode("ascii")))


def token_for(signer: Signer, audience: str, purpose: str, **kwargs: Any) -> str:
    return sign_token(signer.card, signer.kid, claims_for(signer, audience, purpose, **kwargs))


def purposes(app: Flask) -> tuple[str, ...]:
    """The engine's closed list of purpose codes."""
    return tuple(sorted(container(app).policy.purposes))
