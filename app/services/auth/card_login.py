"""Subject logins with password + smart card: challenge-response, and mutual TLS via the proxy.

Guarantees:
- a challenge names a version tag, this service, the normalised username, a 256-bit nonce and
  its expiry (at most `CHALLENGE_TTL` ahead); it is answered the same way whether or not the
  username exists (no account is looked up), and throttled like a login;
- a challenge is single use: the first login request that presents it consumes it with one
  conditional UPDATE (`used_at IS NULL AND expires_at > now`, rowcount must be 1), whatever
  else in that request fails; it is valid only for the username it was issued to;
- a failed login counts against the account (the per-account throttle) only when the card's
  signature verified under one of the account's enrolled cards (or, through mTLS, the proxy
  verified an enrolled certificate), whatever else failed: so the card is checked even when
  the password is wrong, and a stranger without the card cannot lock its holder out. Every
  failure counts against the client address;
- a login succeeds only if every factor holds at once: the caller is not throttled, the account
  exists, is a subject and is active, the argon2id password matches, and the signature over the
  challenge (ECDSA P-256 / SHA-256 as raw r||s or DER, or RSA PKCS#1 v1.5 / SHA-256) verifies
  under an *active* enrolled card of that account whose certificate `verify_card_certificate`
  accepts now; the mTLS path swaps the signature for the proxy-verified client certificate,
  which must be enrolled (by SHA-256 thumbprint), active and for that account (the challenge
  and signature checks live in `app.services.auth.card_signature`, shared with the staff step-up);
- exactly one argon2id verification runs per non-throttled login, for unknown accounts too
  (against a dummy hash), so the response time does not reveal which usernames exist;
- every login request that passed the syntax checks leaves one attempt row with the precise
  reason; the caller only ever learns success, throttled or one generic failure;
- a malformed username raises `MalformedRequest` (the web layer rejects the rest of a malformed
  request the same way) before anything is read or written: no attempt row, no challenge
  consumed; it cannot test a factor, so it is not an attempt. An absent password or signature
  (None) is not malformed: it is a missing factor, a failed attempt like a wrong one;
- no password, signature, nonce, certificate or session id is logged; the database keeps only
  the SHA-256 digest of the to-be-signed bytes (in `LoginChallenge.to_be_signed`), which is all
  that verification needs, so not even a database dump or an SQL debug log shows a nonce.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import Account, AccountKind, Card, LoginChallenge
from app.models.base import utcnow
from app.services.auth.card_signature import DER_ECDSA_BYTES as DER_ECDSA_BYTES
from app.services.auth.card_signature import RAW_ECDSA_BYTES as RAW_ECDSA_BYTES
from app.services.auth.card_signature import (
    SIGNED_BY_AN_ENROLLED_CARD,
    card_by_signature,
    card_verdict,
    consume_challenge,
)
from app.services.auth.login_attempts import AttemptLog, Method, Outcome, Reason, normalise_username
from app.services.auth.passwords import PasswordHashing
from app.services.auth.sessions import LoginResult, SessionService, lock_for_login
from crypto.keys import KeyProvider

log = logging.getLogger("creditgate.auth")

VERSION_TAG = "creditgate-login-v1"
CHALLENGE_TTL = timedelta(minutes=2)
#: Challenge rows are deleted this long after they expire (useless by then).
CHALLENGE_RETENTION = timedelta(hours=1)
SESSION_METHODS = frozenset({"password", "card"})
MAX_CERTIFICATE_HEADER_CHARS = 16 * 1024

_USERNAME = re.compile(r"[a-z0-9._-]{1,64}")


class MalformedRequest(ValueError):
    """The request cannot be a login at all; `message` is generic and never echoes input."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_username(raw: object) -> str:
    """The normalised username (strip + casefold): 1-64 of [a-z0-9._-], else malformed."""
    if isinstance(raw, str):
        username = normalise_username(raw)
        if _USERNAME.fullmatch(username):
            return username
    raise MalformedRequest("username must be 1-64 characters of a-z, 0-9, '.', '_' or '-'.")


def certificate_from_header(value: str | None) -> bytes | None:
    """DER from a proxy's URL-encoded PEM header (nginx `$ssl_client_escaped_cert`), or None
    if the header is absent, empty, oversized or not a PEM certificate."""
    if not value or len(value) > MAX_CERTIFICATE_HEADER_CHARS:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(unquote(value).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return certificate.public_bytes(Encoding.DER)


def certificate_common_name(der: bytes) -> str | None:
    """The subject CN of a DER certificate (a card's is its holder's username), at most 64
    characters, or None if there is none. Only for showing the holder which card the browser
    presented: it decides nothing (the login checks enrolment, CA, validity and status)."""
    try:
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )
    except ValueError:
        return None
    value = names[0].value if names else None
    return value[:64] if isinstance(value, str) and value else None


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    to_be_signed: bytes = field(repr=False)
    expires_at: datetime


TOO_MANY = Reason.TOO_MANY_FAILURES
CardCheck = Callable[[Account], tuple[uuid.UUID | None, Reason]]


@dataclass(frozen=True)
class CardLoginService:
    provider: KeyProvider
    service_name: str
    passwords: PasswordHashing

    def issue_challenge(self, db: Session, username: str, address: str) -> Challenge | None:
        """A new challenge for `username` (already parsed), or None if throttled."""
        attempts = AttemptLog(self.provider)
        key = attempts.username_key(username)
        if attempts.throttled(db, key, address):
            self._record(db, key, None, Method.CARD, address, Outcome.THROTTLED, TOO_MANY)
            return None
        now = utcnow()
        db.execute(
            delete(LoginChallenge).where(LoginChallenge.expires_at < now - CHALLENGE_RETENTION)
        )
        expires = (now + CHALLENGE_TTL).replace(microsecond=0)
        to_be_signed = (
            f"{VERSION_TAG}\nservice={self.service_name}\nusername={username}\n"
            f"nonce={secrets.token_hex(32)}\nexpires={iso_utc(expires)}\n"
        ).encode()
        challenge = Challenge(secrets.token_urlsafe(32), to_be_signed, expires)
        digest = hashlib.sha256(to_be_signed).digest()
        row = LoginChallenge(
            id=challenge.challenge_id, username=username, to_be_signed=digest, expires_at=expires
        )
        db.add(row)
        db.flush()
        return challenge

    def login(
        self,
        db: Session,
        *,
        challenge_id: str,
        username: str,
        password: str | None,
        signature: bytes | None,
        address: str,
        replaces: str | None,
    ) -> LoginResult:
        """Challenge-response login; `username` went through `parse_username`."""
        now = utcnow()
        digest, problem = consume_challenge(db, challenge_id, username, now)

        def card(account: Account) -> tuple[uuid.UUID | None, Reason]:
            if digest is None:
                return None, Reason.BAD_CHALLENGE
            return card_by_signature(db, self.provider, account.id, digest, signature, now)

        return self._login(db, username, password, Method.CARD, address, replaces, card, problem)

    def login_mtls(
        self,
        db: Session,
        *,
        username: str,
        password: str | None,
        certificate: bytes | None,
        address: str,
        replaces: str | None,
    ) -> LoginResult:
        """Password + the client certificate the trusted proxy verified (None if none came)."""
        now = utcnow()

        def card(account: Account) -> tuple[uuid.UUID | None, Reason]:
            return self._card_by_certificate(db, account, certificate, now)

        return self._login(db, username, password, Method.MTLS, address, replaces, card, None)

    def _login(
        self,
        db: Session,
        username: str,
        password: str | None,
        method: Method,
        address: str,
        replaces: str | None,
        card_check: CardCheck,
        problem: Reason | None,
    ) -> LoginResult:
        """Throttle, account, password (always one argon2id run), card; `problem` is an
        earlier failure (the challenge's), reported before any other."""
        key = AttemptLog(self.provider).username_key(username)
        account = self._account(db, username)
        account_id = account.id if account is not None else None
        if AttemptLog(self.provider).throttled(db, key, address):
            self._record(db, key, account_id, method, address, Outcome.THROTTLED, TOO_MANY)
            return LoginResult(Outcome.THROTTLED, TOO_MANY)
        account_problem = self._check_account_and_password(account, password)
        card_id: uuid.UUID | None = None
        card_problem: Reason | None = None
        if problem is None and account is not None:  # even with a wrong password: see above
            card_id, card_problem = card_check(account)
        problem = problem or account_problem or (None if card_id is not None else card_problem)
        if problem is not None or card_id is None or account is None or password is None:
            failed = problem or Reason.UNKNOWN_ACCOUNT
            verified = card_problem in SIGNED_BY_AN_ENROLLED_CARD
            self._record(db, key, account_id, method, address, Outcome.FAILURE, failed, verified)
            return LoginResult(Outcome.FAILURE, failed)
        if account.password_hash is not None and self.passwords.needs_rehash(account.password_hash):
            account.password_hash = self.passwords.hash(password)
        sessions = SessionService()
        token = sessions.start(db, account, SESSION_METHODS, card_id=card_id, replaces=replaces)
        principal = sessions.resume(db, token, touch=False)
        if principal is None:  # cannot happen for a session just started on an active account
            raise RuntimeError("a session just started could not be resumed")
        self._record(db, key, account.id, method, address, Outcome.SUCCESS, Reason.OK)
        return LoginResult(Outcome.SUCCESS, Reason.OK, token, principal)

    def _record(
        self,
        db: Session,
        key: bytes,
        account_id: uuid.UUID | None,
        method: Method,
        address: str,
        outcome: Outcome,
        reason: Reason,
        counts_for_account: bool = True,
    ) -> None:
        AttemptLog(self.provider).record(
            db,
            username_key=key,
            account_id=account_id,
            method=method,
            outcome=outcome,
            reason=reason,
            address=address,
            counts_for_account=counts_for_account,
        )
        log.info("login %s: method=%s reason=%s", outcome.value, method.value, reason.value)

    # -- the factors -------------------------------------------------------------------------

    def _account(self, db: Session, username: str) -> Account | None:
        return lock_for_login(db, username)

    def _check_account_and_password(
        self, account: Account | None, password: str | None
    ) -> Reason | None:
        """Runs argon2id exactly once whatever the account (timing), then names what failed."""
        stored = account.password_hash if account is not None else None
        matches = self.passwords.verify(stored, password or "") and password is not None
        if account is None:
            return Reason.UNKNOWN_ACCOUNT
        if account.kind != AccountKind.SUBJECT.value:
            return Reason.WRONG_KIND
        if account.status != "active":
            return Reason.DISABLED_ACCOUNT
        return None if matches else Reason.BAD_PASSWORD

    def _card_by_certificate(
        self, db: Session, account: Account, certificate: bytes | None, now: datetime
    ) -> tuple[uuid.UUID | None, Reason]:
        if certificate is None:
            return None, Reason.NO_CARD
        thumbprint = hashlib.sha256(certificate).hexdigest()
        card = db.scalars(
            select(Card).where(Card.thumbprint == thumbprint).with_for_update(read=True)
        ).one_or_none()
        if card is None or card.account_id != account.id:
            return None, Reason.NO_CARD
        return card_verdict(self.provider, card, now)
