"""Card step-up: a staff session logged in with password + TOTP adds the smart-card factor.

ARCHITECTURE §1 asks password + TOTP + card of registrars and key custodians (and lets
compliance officers add the card); §5's challenge-response supplies the card factor, and issue
3 item 7 asks for a new session id at every step-up.

Guarantees:
- only a live staff session whose methods include password and totp may step up
  (`may_step_up`); anything else is refused before anything is read or written: no attempt
  row, no challenge consumed;
- the caller's session is looked up again inside the step-up's own transaction, so a session
  that ended since the request began (logout, revocation, disabling) cannot step up;
- the challenge is consumed exactly as at login (`card_signature.consume_challenge`: one
  conditional UPDATE, single use, unexpired, and only for the session's own username), first
  and whatever else fails; then the attempt is throttled per username and per client address
  like a login (`AttemptLog.throttled`), and recorded with method `card` and the precise
  reason;
- the signature (ECDSA P-256 raw or DER, RSA PKCS#1 v1.5, over SHA-256) must verify under an
  *active* card enrolled for this very account whose certificate `verify_card_certificate`
  accepts now; the account's card rows are share-locked, so a concurrent revocation waits and
  then ends the session made here;
- success starts a NEW session with the old methods plus `card`, bound to that card (revoking
  it ends the session), and ends the old one in the same transaction; a failure leaves the old
  session as it was;
- nothing here logs a session id, signature, nonce or certificate.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AccountKind, Card
from app.models.base import utcnow
from app.services.auth.card_signature import card_by_signature, card_verdict, consume_challenge
from app.services.auth.login_attempts import AttemptLog, Method, Outcome, Reason
from app.services.auth.sessions import Principal, SessionService, lock_for_login
from crypto.keys import KeyProvider

log = logging.getLogger("creditgate.auth")

#: The factors a session must already have to add the card.
REQUIRED_METHODS = frozenset({"password", "totp"})
CARD_METHOD = "card"


class StepUpOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # recorded with its precise reason
    THROTTLED = "throttled"  # recorded
    NOT_ALLOWED = "not_allowed"  # not a staff password+TOTP session: nothing recorded
    SESSION_ENDED = "session_ended"  # the caller's session is no longer live: nothing recorded


@dataclass(frozen=True)
class StepUpResult:
    """`token` (the new session id: cookie only, never log) and `principal` on success only."""

    outcome: StepUpOutcome
    reason: Reason | None = None
    token: str | None = field(default=None, repr=False)
    principal: Principal | None = None


def may_step_up(principal: Principal) -> bool:
    """True for a staff session that already holds password and TOTP."""
    return principal.kind == AccountKind.STAFF.value and principal.methods >= REQUIRED_METHODS


@dataclass(frozen=True)
class CardStepUp:
    provider: KeyProvider

    def step_up(
        self,
        db: Session,
        *,
        token: str,
        challenge_id: str,
        signature: bytes | None,
        address: str,
    ) -> StepUpResult:
        """Add the card to the session `token` (the caller's current session id).

        `challenge_id` is well-formed (the web layer checked its syntax); `signature` is the
        decoded signature, or None if the caller sent none (a missing factor, recorded).
        """
        sessions = SessionService()
        current = sessions.resume(db, token, touch=False)
        if current is None:
            return StepUpResult(StepUpOutcome.SESSION_ENDED)
        if not may_step_up(current):
            return StepUpResult(StepUpOutcome.NOT_ALLOWED)
        now = utcnow()
        digest, problem = consume_challenge(db, challenge_id, current.username, now)
        attempts = AttemptLog(self.provider)
        key = attempts.username_key(current.username)
        if attempts.throttled(db, key, address):
            reason = Reason.TOO_MANY_FAILURES
            self._record(db, key, current.account_id, address, Outcome.THROTTLED, reason)
            return StepUpResult(StepUpOutcome.THROTTLED, reason)
        account = lock_for_login(db, current.username)
        card_id: uuid.UUID | None = None
        if account is None:  # a live session's account cannot vanish; refuse all the same
            problem = problem or Reason.UNKNOWN_ACCOUNT
        elif problem is None and digest is not None:
            card_id, problem = card_by_signature(
                db, self.provider, account.id, digest, signature, now
            )
        if card_id is None or account is None:
            failed = problem or Reason.BAD_SIGNATURE
            self._record(db, key, current.account_id, address, Outcome.FAILURE, failed)
            return StepUpResult(StepUpOutcome.FAILURE, failed)
        methods = current.methods | {CARD_METHOD}
        new_token = sessions.start(db, account, methods, card_id=card_id, replaces=token)
        principal = sessions.resume(db, new_token, touch=False)
        if principal is None:  # cannot happen for a session just started on an active account
            raise RuntimeError("a session just started could not be resumed")
        self._record(db, key, account.id, address, Outcome.SUCCESS, Reason.OK)
        return StepUpResult(StepUpOutcome.SUCCESS, Reason.OK, new_token, principal)

    def _record(
        self,
        db: Session,
        key: bytes,
        account_id: uuid.UUID,
        address: str,
        outcome: Outcome,
        reason: Reason,
    ) -> None:
        AttemptLog(self.provider).record(
            db,
            username_key=key,
            account_id=account_id,
            method=Method.CARD,
            outcome=outcome,
            reason=reason,
            address=address,
        )
        log.info("card step-up %s: reason=%s", outcome.value, reason.value)


@dataclass(frozen=True)
class CertificateStepUp:
    """The browser's card step-up: the card certificate the trusted TLS proxy verified in the
    handshake (mutual TLS) stands for the card factor, exactly as at the subjects' mTLS login.

    Same guarantees as `CardStepUp`, with the certificate in place of the signature: it must be
    enrolled (by SHA-256 thumbprint) for this very staff account, active, and valid now."""

    provider: KeyProvider

    def step_up(
        self, db: Session, *, token: str, certificate: bytes | None, address: str
    ) -> StepUpResult:
        sessions = SessionService()
        current = sessions.resume(db, token, touch=False)
        if current is None:
            return StepUpResult(StepUpOutcome.SESSION_ENDED)
        if not may_step_up(current):
            return StepUpResult(StepUpOutcome.NOT_ALLOWED)
        attempts = AttemptLog(self.provider)
        key = attempts.username_key(current.username)
        if attempts.throttled(db, key, address):
            reason = Reason.TOO_MANY_FAILURES
            self._record(db, key, current.account_id, address, Outcome.THROTTLED, reason)
            return StepUpResult(StepUpOutcome.THROTTLED, reason)
        account = lock_for_login(db, current.username)
        card_id: uuid.UUID | None = None
        problem: Reason = Reason.NO_CARD
        if account is not None and certificate is not None:
            card = db.scalars(
                select(Card)
                .where(Card.thumbprint == hashlib.sha256(certificate).hexdigest())
                .with_for_update(read=True)
            ).one_or_none()
            if card is not None and card.account_id == account.id:
                card_id, problem = card_verdict(self.provider, card, utcnow())
        if card_id is None or account is None:
            self._record(db, key, current.account_id, address, Outcome.FAILURE, problem)
            return StepUpResult(StepUpOutcome.FAILURE, problem)
        methods = current.methods | {CARD_METHOD}
        new_token = sessions.start(db, account, methods, card_id=card_id, replaces=token)
        principal = sessions.resume(db, new_token, touch=False)
        if principal is None:  # cannot happen for a session just started on an active account
            raise RuntimeError("a session just started could not be resumed")
        self._record(db, key, account.id, address, Outcome.SUCCESS, Reason.OK)
        return StepUpResult(StepUpOutcome.SUCCESS, Reason.OK, new_token, principal)

    def _record(
        self,
        db: Session,
        key: bytes,
        account_id: uuid.UUID,
        address: str,
        outcome: Outcome,
        reason: Reason,
    ) -> None:
        AttemptLog(self.provider).record(
            db,
            username_key=key,
            account_id=account_id,
            method=Method.MTLS,
            outcome=outcome,
            reason=reason,
            address=address,
        )
        log.info("card step-up (mtls) %s: reason=%s", outcome.value, reason.value)
