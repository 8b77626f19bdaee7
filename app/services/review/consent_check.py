"""A consent that explains disclosures, checked again from the console (ARCHITECTURE §10).

`ConsentCheck.verify(asker, jti)` (`compliance:consent:verify`) reads the consent as the
service registered it and verifies the token the subject signed *again*: the stored compact
JWS under the certificate of the card it names (`kid`), enrolled to an account of that very
subject, with the algorithm that card's key implies; its claims must be the ones on record
(institution, subject, purpose, scope, times, uses) and its bytes the ones first registered.

Guarantees: the verdict is one of `VERDICTS`; the card may have been revoked or expired since
(a signature made while it was valid stays valid: its status is shown beside the verdict); the
answer holds the consent's references and terms, never the token, the certificate or anything
about the subject but the blind index the check's log entry records; a consent id nobody
registered is a logged denial and a 404; nothing here calls the HSM.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from app.models import Account, Card, Consent, Institution, Subject
from app.models.base import as_utc
from app.services.consent.tokens import JTI, ConsentRefused, parse, verify_signature
from app.services.outcomes import Answer, Answered, bad_input, not_found, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, Parts, run_logged
from app.services.review.log_search import AnyRow
from policies.actions import Action
from policies.decision import Target

VERDICTS = (
    "signature_valid",  # verifies under the subject's card, claims and bytes as registered
    "forged_signature",  # does not verify under that card's key
    "claims_differ",  # verifies, but says something else than the consent on record
    "token_changed",  # not the bytes first registered
    "card_unknown",  # no card of this subject has the thumbprint the consent names
    "token_not_kept",  # registered before tokens were kept (migration 0071)
)


def _when(value: Any) -> str:
    return as_utc(value).isoformat()


def _read(db: Connection, jti: str) -> tuple[AnyRow | None, AnyRow | None]:
    consent = db.execute(
        select(
            Consent.jti,
            Consent.token,
            Consent.token_sha256,
            Consent.subject_id,
            Consent.client_id,
            Consent.purpose,
            Consent.scope,
            Consent.issued_at,
            Consent.expires_at,
            Consent.max_uses,
            Consent.uses,
            Consent.revoked_at,
            Consent.registered_at,
            Consent.card_thumbprint,
            Subject.id_bidx,
            Institution.name.label("institution_name"),
        )
        .join(Subject, Subject.id == Consent.subject_id)
        .outerjoin(Institution, Institution.client_id == Consent.client_id)
        .where(Consent.jti == jti)
    ).first()
    if consent is None:
        return None, None
    card = db.execute(
        select(Card.certificate, Card.status, Card.revoked_at)
        .join(Account, Account.id == Card.account_id)
        .where(Card.thumbprint == consent.card_thumbprint, Account.subject_id == consent.subject_id)
    ).first()
    return consent, card


def verdict_of(consent: AnyRow, card: AnyRow | None) -> str:
    """The check's verdict (see `VERDICTS`)."""
    token: str | None = consent.token
    if token is None:
        return "token_not_kept"
    if hashlib.sha256(token.encode("ascii")).digest() != bytes(consent.token_sha256):
        return "token_changed"
    if card is None:
        return "card_unknown"
    try:
        parsed = parse(token)
        if parsed.kid != consent.card_thumbprint:
            return "claims_differ"
        claims = verify_signature(parsed, bytes(card.certificate))
    except ConsentRefused:
        return "forged_signature"
    scope = claims.get("scope")
    on_record = {
        "jti": consent.jti,
        "aud": consent.client_id,
        "sub": str(consent.subject_id),
        "purpose": consent.purpose,
        "scope": consent.scope,
        "iat": int(as_utc(consent.issued_at).timestamp()),
        "exp": int(as_utc(consent.expires_at).timestamp()),
        "max_uses": consent.max_uses,
    }
    signed = {
        **{key: claims.get(key) for key in on_record},
        "scope": ",".join(sorted(scope)) if isinstance(scope, list) else None,
        "iat": _seconds(claims.get("iat")),
        "exp": _seconds(claims.get("exp")),
    }
    return "signature_valid" if signed == on_record else "claims_differ"


def _seconds(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


class ConsentCheck:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def verify(self, asker: Asker, jti: str) -> Answer:
        return run_logged(
            self.parts, Action.COMPLIANCE_CONSENT_VERIFY, asker, lambda q: self._verify(q, jti)
        )

    def _verify(self, q: LoggedQuery, jti: str) -> Answer:
        decision = q.decide(Target())
        well_formed = JTI.fullmatch(jti) is not None
        consent: AnyRow | None = None
        card: AnyRow | None = None
        if decision.allowed and well_formed:
            with q.snapshot() as db:
                consent, card = _read(db, jti)
        verdict = None if consent is None else verdict_of(consent, card)
        if consent is not None:
            q.subject_bidx = bytes(consent.id_bidx)
            q.consent_jti = consent.jti
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if not well_formed:
                q.deny(db, "bad_request")
                return bad_input("A consent id is 16 to 128 characters of A-Z a-z 0-9 _ -.")
            if consent is None or verdict is None:
                q.deny(db, "not_found")
                return not_found("No consent with that id was registered.")
            document = {
                "consent": _view(consent),
                "card": None
                if card is None
                else {"status": card.status, "revoked_at": _optional(card.revoked_at)},
                "verdict": verdict,
            }
            q.allow(db, reason=verdict)
        return Answered(document)


def _optional(value: datetime | None) -> str | None:
    return None if value is None else _when(value)


def _view(consent: AnyRow) -> dict[str, Any]:
    return {
        "id": consent.jti,
        "institution": consent.client_id,
        "institution_name": consent.institution_name,
        "purpose": consent.purpose,
        "scope": consent.scope.split(","),
        "issued_at": _when(consent.issued_at),
        "expires_at": _when(consent.expires_at),
        "max_uses": consent.max_uses,
        "uses": consent.uses,
        "revoked_at": _optional(consent.revoked_at),
        "registered_at": _when(consent.registered_at),
        "card_thumbprint": consent.card_thumbprint,
    }
