"""The login-attempt log and the throttle built on it.

Guarantees:
- every attempt (success, failure, throttled) is a row: time, username as an HMAC key (never
  the typed text, which may be a password), account if known, method, outcome, a reason from
  a closed vocabulary, client address; never a password, PIN, OTP, signature or session id;
- at most `MAX_FAILURES` failed attempts per `WINDOW` per username and per client address,
  counted in the database so every worker shares them; never a global limit, so an attack on
  one account or from one address does not lock anyone else out;
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
MAX_FAILURES = 5
#: Advisory-lock namespaces (first key of PostgreSQL's two-int advisory locks).
_USERNAME_LOCKS = 0x4347_0001
_ADDRESS_LOCKS = 0x4347_0002


class Method(StrEnum):
    CARD = "card"
    MTLS = "mtls"
    STAFF = "staff"  # password + TOTP
    OAUTH = "oauth"


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
        """True if this username or this address has failed `MAX_FAILURES` times lately.

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
        return (per_address or 0) >= MAX_FAILURES

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
