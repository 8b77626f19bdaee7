"""Consent tokens as the service keeps them: registered, used, listed and revoked (§5).

Guarantees:
- `verify_and_use` accepts a token only if it is a compact ES256/RS256 JWS whose `kid` names an
  active card, inside its validity, enrolled to the account of the subject asked about, whose
  signature verifies under that card's certificate, and whose claims (`consent_token`) hold:
  `aud` = the calling institution, `sub` = the subject, the purpose asked for, not expired, not
  longer than the policy allows, not revoked, uses left. No HSM call is made here;
- an unknown subject, a `kid` that is none of the subject's live cards and a forged signature
  are refused alike (`NOT_FOUND_REASONS`), so the caller learns nothing about who exists;
- uses are counted atomically: the token is registered on first sight with an insert that does
  nothing if the jti is there already (race-safe on SQLite and PostgreSQL), then one
  `UPDATE … SET uses = uses + 1 WHERE jti = … AND uses < max_uses AND revoked_at IS NULL`
  whose rowcount decides. Of N concurrent uses of a token allowing k, exactly k pass;
- a jti already known under different token bytes is refused as `replayed`;
- a subject revokes by jti (`revoke`), whether or not the token was ever registered: the
  revocation is recorded for (that subject, that jti) and every later use or registration of a
  token with that jti *and that subject as `sub`* is refused as `revoked`, checked on every use.
  Revoking never tells whether such a token exists or belongs to someone else: the answer is
  the same, and a revocation binds only the revoking subject's tokens;
- the caller owns the transaction: a refusal raised after the use was counted must roll the
  unit (or its savepoint) back, and nothing here commits;
- nothing here logs; refusals carry a reason code only, never the token or a claim value.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Account, Card, Consent, ConsentRevocation, Institution, Subject
from app.models.base import as_utc, utcnow
from app.services.consent.tokens import (
    JTI,
    ConsentClaims,
    ConsentRefused,
    ParsedToken,
    check_claims,
    parse,
    verified_jti,
    verify_signature,
)
from app.services.consent.views import ConsentView, Revocation, consent_view
from policies.decision import ConsentFacts

__all__ = [
    "NOT_FOUND_REASONS",
    "ConsentRefused",
    "ConsentRules",
    "ConsentService",
    "ConsentView",
    "Revocation",
    "VerifiedConsent",
    "utcnow",
]

#: Refusals that must look like "no such subject" to an institution (404, one body).
NOT_FOUND_REASONS = frozenset({"unknown_subject", "unknown_card", "forged_signature"})


class _ConsentPolicy(Protocol):
    @property
    def purposes(self) -> Mapping[str, Any]: ...

    @property
    def consent_max_days(self) -> int: ...

    @property
    def consent_max_uses(self) -> int: ...


@dataclass(frozen=True)
class ConsentRules:
    """The policy's bounds on consent tokens (closed purpose list, longest life, most uses)."""

    purposes: frozenset[str]
    max_days: int
    max_uses: int

    @classmethod
    def of(cls, policy: _ConsentPolicy) -> ConsentRules:
        return cls(
            purposes=frozenset(policy.purposes),
            max_days=int(policy.consent_max_days),
            max_uses=int(policy.consent_max_uses),
        )


@dataclass(frozen=True)
class VerifiedConsent:
    """A consent that passed every check and whose use has been counted (in the caller's
    transaction)."""

    jti: str
    purpose: str
    scope: frozenset[str]
    uses: int
    max_uses: int
    expires_at: datetime

    @property
    def facts(self) -> ConsentFacts:
        return ConsentFacts(
            audience_matches=True, subject_matches=True, purpose=self.purpose, scope=self.scope
        )


def _sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


class ConsentService:
    def __init__(self, rules: ConsentRules) -> None:
        self.rules = rules

    # -- institution side ------------------------------------------------------------------

    def verify_and_use(
        self,
        db: Session,
        token: str,
        *,
        institution_client_id: str,
        subject: Subject | None,
        purpose: str,
        now: datetime,
    ) -> VerifiedConsent:
        """Verify `token` for this institution, subject and purpose and count one use; raises
        `ConsentRefused(reason)` (see the module guarantees)."""
        parsed = parse(token)
        if subject is None:
            raise ConsentRefused("unknown_subject")
        card = self._live_card(db, subject.id, parsed.kid, now)
        if card is None:
            raise ConsentRefused("unknown_card")
        raw = verify_signature(parsed, card.certificate)
        try:
            return self._use(db, parsed, raw, card, subject, institution_client_id, purpose, now)
        except ConsentRefused as refused:  # the signature verified: its jti may be recorded
            raise ConsentRefused(refused.reason, verified_jti=verified_jti(raw)) from None

    def _use(
        self,
        db: Session,
        parsed: ParsedToken,
        raw: dict[str, Any],
        card: Card,
        subject: Subject,
        institution_client_id: str,
        purpose: str,
        now: datetime,
    ) -> VerifiedConsent:
        """`verify_and_use` once the token's signature has verified."""
        claims = self._check(raw, now)
        if claims.sub != str(subject.id):
            raise ConsentRefused("wrong_subject")
        if claims.aud != institution_client_id:
            raise ConsentRefused("wrong_audience")
        if claims.purpose != purpose:
            raise ConsentRefused("wrong_purpose")
        if self._revoked_at(db, subject.id, claims.jti) is not None:
            raise ConsentRefused("revoked")
        row = self._registered(db, parsed, claims, subject.id, card.thumbprint, now)
        used = db.execute(
            update(Consent)
            .where(
                Consent.jti == row.jti,
                Consent.uses < Consent.max_uses,
                Consent.revoked_at.is_(None),
            )
            .values(uses=Consent.uses + 1)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(used, "rowcount", 0) or 0) != 1:
            fresh = self._row(db, row.jti)
            raise ConsentRefused(
                "revoked" if fresh is None or fresh.revoked_at is not None else "used_up"
            )
        return VerifiedConsent(
            jti=claims.jti,
            purpose=claims.purpose,
            scope=claims.scope,
            uses=row.uses + 1,
            max_uses=row.max_uses,
            expires_at=claims.expires_at,
        )

    # -- subject side ----------------------------------------------------------------------

    def register(
        self, db: Session, token: str, *, subject_id: uuid.UUID, now: datetime
    ) -> tuple[ConsentView, bool]:
        """Register a token the subject signed with one of their own live cards, before any
        institution uses it; returns (the consent, whether it is new). `ConsentRefused` with
        `unknown_card`, `forged_signature`, `wrong_subject`, `unknown_institution`, `replayed`
        or a claim rule."""
        parsed = parse(token)
        card = self._live_card(db, subject_id, parsed.kid, now)
        if card is None:
            raise ConsentRefused("unknown_card")
        claims = self._claims(parsed, card, now)
        if claims.sub != str(subject_id):
            raise ConsentRefused("wrong_subject")
        institution = db.scalars(
            select(Institution.id).where(
                Institution.client_id == claims.aud, Institution.status == "active"
            )
        ).first()
        if institution is None:
            raise ConsentRefused("unknown_institution")
        if self._revoked_at(db, subject_id, claims.jti) is not None:
            raise ConsentRefused("revoked")
        known = self._row(db, claims.jti) is not None
        row = self._registered(db, parsed, claims, subject_id, card.thumbprint, now)
        if row.revoked_at is not None:
            raise ConsentRefused("revoked")
        return consent_view(row), not known

    def list_for(self, db: Session, subject_id: uuid.UUID) -> list[ConsentView]:
        """The subject's registered consents, newest first (revoked ones marked so)."""
        rows = db.execute(
            select(Consent, ConsentRevocation.revoked_at)
            .outerjoin(
                ConsentRevocation,
                (ConsentRevocation.subject_id == Consent.subject_id)
                & (ConsentRevocation.jti == Consent.jti),
            )
            .where(Consent.subject_id == subject_id)
            .order_by(Consent.registered_at.desc(), Consent.jti)
        )
        return [consent_view(row, revoked_at) for row, revoked_at in rows]

    def revoke(self, db: Session, jti: str, *, subject_id: uuid.UUID, now: datetime) -> Revocation:
        """Revoke the subject's consent token `jti`, registered or not (idempotent: the first
        revocation's time stands). `ConsentRefused("malformed")` if `jti` cannot be a consent
        token's. The consent is in the answer only if this subject registered it; another
        subject's jti is answered like one never seen, and their token is untouched. A use in
        flight either committed before (and counts) or is refused."""
        if not JTI.fullmatch(jti):
            raise ConsentRefused("malformed")
        dialect = db.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        db.execute(
            insert(ConsentRevocation)
            .values(subject_id=subject_id, jti=jti, revoked_at=now)
            .on_conflict_do_nothing(index_elements=["subject_id", "jti"])
        )
        db.execute(
            update(Consent)
            .where(
                Consent.jti == jti,
                Consent.subject_id == subject_id,
                Consent.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        revoked_at = self._revoked_at(db, subject_id, jti)
        assert revoked_at is not None  # recorded just above, in this transaction
        row = self._row(db, jti)
        view = consent_view(row) if row is not None and row.subject_id == subject_id else None
        return Revocation(jti=jti, revoked_at=revoked_at, consent=view)

    # -- shared ----------------------------------------------------------------------------

    def _claims(self, parsed: ParsedToken, card: Card, now: datetime) -> ConsentClaims:
        return self._check(verify_signature(parsed, card.certificate), now)

    def _check(self, raw: dict[str, Any], now: datetime) -> ConsentClaims:
        return check_claims(
            raw,
            purposes=self.rules.purposes,
            max_days=self.rules.max_days,
            max_uses=self.rules.max_uses,
            now=now,
        )

    @staticmethod
    def _live_card(db: Session, subject_id: uuid.UUID, kid: str, now: datetime) -> Card | None:
        """The active card with thumbprint `kid`, inside its validity at `now`, enrolled to an
        active subject account of `subject_id`; share-locked like the card login does."""
        card = db.scalars(
            select(Card)
            .join(Account, Account.id == Card.account_id)
            .where(
                Card.thumbprint == kid,
                Card.status == "active",
                Account.subject_id == subject_id,
                Account.kind == "subject",
                Account.status == "active",
            )
            .with_for_update(read=True, of=Card)
        ).one_or_none()
        if card is None or not as_utc(card.not_before) <= now <= as_utc(card.not_after):
            return None
        return card

    @staticmethod
    def _revoked_at(db: Session, subject_id: uuid.UUID, jti: str) -> datetime | None:
        found = db.scalar(
            select(ConsentRevocation.revoked_at).where(
                ConsentRevocation.subject_id == subject_id, ConsentRevocation.jti == jti
            )
        )
        return None if found is None else as_utc(found)

    @staticmethod
    def _row(db: Session, jti: str) -> Consent | None:
        return db.scalars(
            select(Consent).where(Consent.jti == jti).execution_options(populate_existing=True)
        ).one_or_none()

    def _registered(
        self,
        db: Session,
        parsed: ParsedToken,
        claims: ConsentClaims,
        subject_id: uuid.UUID,
        thumbprint: str,
        now: datetime,
    ) -> Consent:
        """The consent row for `claims.jti`, inserted if absent; `replayed` if the jti is known
        under other token bytes."""
        values = {
            "jti": claims.jti,
            "token_sha256": _sha256(parsed.token),
            "subject_id": subject_id,
            "client_id": claims.aud,
            "purpose": claims.purpose,
            "scope": ",".join(sorted(claims.scope)),
            "issued_at": claims.issued_at,
            "expires_at": claims.expires_at,
            "max_uses": claims.max_uses,
            "uses": 0,
            "card_thumbprint": thumbprint,
            "registered_at": now,
            "revoked_at": None,
            "token": parsed.token,  # kept so that officers can verify the signature again
        }
        dialect = db.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        db.execute(insert(Consent).values(**values).on_conflict_do_nothing(index_elements=["jti"]))
        row = self._row(db, claims.jti)
        if row is None or row.token_sha256 != values["token_sha256"]:
            raise ConsentRefused("replayed")
        return row
