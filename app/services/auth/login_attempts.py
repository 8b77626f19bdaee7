"""The login-attempt log and the throttle built on it.

Guarantees:
- every attempt (success, failure, throttled) is a row: time, username as an HMAC key (never
  the typed text, which may be a password), account if known, method, outcome, a reason from
  a closed vocabulary, client address; never a password, PIN, OTP, signature or session id;
- at most `MAX_FAILURES` failed attempts per `WINDOW` per username, and
  `MAX_FAILURES_PER_ADDRESS` per client address, counted in the database so every worker
  shares them; never a global limit, so an attack on one account or from one address does not
  lock anyone else out;
- a failure counts against the username only if it was recorded with `counts_for_account`:
  the card login records a failure so only when the card's signature verified (someone holds
  the card), so a stranger without the card can never lock its holder out; every failure
  counts against the address;
- an unknown username is throttled exactly like a known one (no enumeration by lockout);
- the count is exact under concurrency: `throttled` serialises the attempts on one username and
  on one address until the caller's transaction ends (PostgreSQL: transaction-scoped advisory
  locks, username first then address, so two attempts never wait on each other in a cycle;
  SQLite: the unit of work already holds the database's write lock). Call it, then verify the
  factors and `record` the outcome, in one transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import LoginAttempt
from app.models.base import utcnow
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider

WINDOW = timedelta(seconds=60)
#: Failures per username per window: a guesser holding the card (or a staff password guesser)
#: gets 5 tries a minute.
MAX_FAILURES = 5
#: Failures per client address per window, sized for a crowded service hall or bank branch
#: whose terminals all share one NAT address: 50 counters and self-service terminals in use at
#: once, each finishing at most one login a minute (card, PIN, password take longer than that),
#: each mistyping up to twice: 100. One address that sprays guesses gains nothing from the
#: headroom: a card login needs the card's signature, a staff login a TOTP code, an institution
#: its private key, and every account still stops at `MAX_FAILURES`.
MAX_FAILURES_PER_ADDRESS = 100
#: Advisory-lock namespaces (first key of PostgreSQL's two-int advisory locks).
_USERNAME_LOCKS = 0x4347_0001
_ADDRESS_LOCKS = 0x4347_0002


class Method(StrEnum):
    CARD = "card"
    MTLS = "mtls"
    STAFF = "staff"  # password + TOTP
    OAUTH = "oauth"
    PASSWORD = "password"  # noqa: S105 - a lost card reported with the password alone


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    THROTTLED = "throttled"


class Reason(StrEnum):
    OK = "ok"
    UNKNOWN_ACCOUNT = "unknown_account"
    DISABLED_ACCOUNT = "disabled_account"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an outcome reason, not a password
    BAD_SIGNATURE = "bad_signature"
    BAD_CHALLENGE = "bad_challenge"
    CHALLENGE_EXPIRED = "challenge_expired"
    CHALLENGE_REPLAYED = "challenge_replayed"
    NO_CARD = "no_card"
    CARD_REVOKED = "card_revoked"
    CERT_INVALID = "cert_invalid"
    CERT_EXPIRED = "cert_expired"
    BAD_OTP = "bad_otp"
    OTP_REPLAYED = "otp_replayed"
    NO_TOTP = "no_totp"
    WRONG_KIND = "wrong_kind"
    BAD_CLIENT_ASSERTION = "bad_client_assertion"
    BAD_REQUEST = "bad_request"
    BAD_SCOPE = "bad_scope"
    TOO_MANY_FAILURES = "too_many_failures"


def normalise_username(username: str) -> str:
    return username.strip().casefold()


@dataclass
class AttemptLog:
    provider: KeyProvider

    def username_key(self, username: str) -> bytes:
        return blind_index(self.provider, BlindIndexKind.USERNAME, normalise_username(username))

    def throttled(self, session: Session, username_key: bytes, address: str) -> bool:
        """True if this username has failed `MAX_FAILURES` times lately (failures that count
        against the account), or this address `MAX_FAILURES_PER_ADDRESS` times.

        Holds the username's and the address's attempt locks until the transaction ends.
        """
        self._hold(session, username_key, address)
        since = utcnow() - WINDOW
        per_key = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.username_key == username_key,
                LoginAttempt.outcome == Outcome.FAILURE.value,
                LoginAttempt.counts_for_account.is_(True),
                LoginAttempt.at > since,
            )
        )
        if (per_key or 0) >= MAX_FAILURES:
            return True
        per_address = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.client_address == address,
                LoginAttempt.outcome == Outcome.FAILURE.value,
                LoginAttempt.at > since,
            )
        )
        return (per_address or 0) >= MAX_FAILURES_PER_ADDRESS

    def _hold(self, session: Session, username_key: bytes, address: str) -> None:
        if session.get_bind().dialect.name != "postgresql":
            return
        address_key = hashlib.sha256(address.encode("utf-8")).digest()
        for namespace, key in ((_USERNAME_LOCKS, username_key), (_ADDRESS_LOCKS, address_key)):
            session.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
                {"namespace": namespace, "key": int.from_bytes(key[:4], "big", signed=True)},
            )

    def record(
        self,
        session: Session,
        *,
        username_key: bytes,
        account_id: uuid.UUID | None,
        method: Method,
        outcome: Outcome,
        reason: Reason,
        address: str,
        counts_for_account: bool = True,
    ) -> None:
        session.add(
            LoginAttempt(
                at=utcnow(),
                username_key=username_key,
                account_id=account_id,
                method=method.value,
                outcome=outcome.value,
                reason=reason.value,
                client_address=address[:45],
                counts_for_account=counts_for_account,
            )
        )
        session.flush()

    def recent(
        self, session: Session, account_id: uuid.UUID, limit: int = 20
    ) -> list[LoginAttempt]:
        """The account's latest attempts (for the account holder and compliance)."""
        return list(
            session.scalars(
                select(LoginAttempt)
                .where(LoginAttempt.account_id == account_id)
                .order_by(LoginAttempt.at.desc())
                .limit(limit)
            )
        )
