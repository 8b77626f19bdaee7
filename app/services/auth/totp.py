"""TOTP, the staff second factor (RFC 6238 with pyotp): enrolment, confirmation, verification.

Guarantees:
- a secret is 160 random bits (32 base32 characters), stored only sealed (AES-256-GCM, AAD bound
  to its row) under the active data key of the HSM master wrapping key; it leaves this module
  only inside the enrolment's `otpauth://` URI and QR code, for the account holder;
- codes are 6 digits over 30-second steps, accepted for the current step and one step either
  side, compared in constant time (all three candidates are always computed and compared);
- a step once accepted is never accepted again for that account, and neither is any step
  before the latest accepted one: the accepted step is inserted into `totp_used_steps` inside a
  SAVEPOINT, and its primary key makes that insert the atomic replay guard across requests,
  threads and workers — of any number of concurrent requests with the same code, exactly one
  passes (on PostgreSQL the others wait on the key and fail; on SQLite, which serialises
  writers, a transaction that overlaps the winner fails with a database lock error instead);
- enrolling (or re-enrolling) leaves an unconfirmed credential that logins refuse until a code
  from it is confirmed, and ends every session of the account (a factor changed);
- nothing here logs, and no error carries a secret or a code; nothing here commits.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import pyotp
import qrcode  # type: ignore[import-untyped]  # no stubs; only `make` is used
from qrcode.image.svg import SvgPathImage  # type: ignore[import-untyped]
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Account, AccountKind, TotpCredential, TotpUsedStep
from app.models.base import utcnow
from app.models.ids import uuid7
from app.services.auth.login_attempts import Reason
from app.services.auth.sessions import SessionService
from app.services.keys.lifecycle import KeyService
from crypto.fields import FieldCipher
from crypto.keys import WrappingKey

ISSUER = "CreditGate"
PERIOD = 30
DIGITS = 6
WINDOW = 1
SECRET_CHARACTERS = 32  # base32: 5 bits each, 160 bits
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
_DUMMY_SECRET = pyotp.random_base32(SECRET_CHARACTERS)


class TotpError(Exception):
    """A TOTP operation was refused (wrong kind of account, disabled account)."""


class TotpStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Enrolment:
    """What the account holder needs to set up an authenticator app (secret inside: never log)."""

    otpauth_uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


@dataclass(frozen=True)
class TotpCheck:
    """A code checked against the account's secret, before the replay guard (`consume`)."""

    account_id: uuid.UUID | None
    reason: Reason | None  # None: the code matches `steps`
    steps: tuple[int, ...] = ()


def _timestamp(now: datetime | float | None) -> float:
    if now is None:
        return time.time()
    return now.timestamp() if isinstance(now, datetime) else float(now)


def _matching_steps(secret: str, code: str, moment: float) -> tuple[int, ...]:
    """Steps within the window whose code equals `code`; every candidate is compared."""
    generator = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int(moment // PERIOD)
    typed = code.encode("ascii")
    matched: list[int] = []
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(generator.generate_otp(step).encode("ascii"), typed):
            matched.append(step)
    return tuple(matched)


def _normalise_code(code: str) -> str | None:
    compact = code.replace(" ", "")
    return compact if _CODE.fullmatch(compact) else None


def qr_svg(uri: str) -> str:
    """A QR code of `uri` as an SVG document (pure Python, no Pillow)."""
    image = qrcode.make(uri, image_factory=SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg


@dataclass
class TotpService:
    keys: KeyService
    cipher: FieldCipher
    sessions: SessionService = field(default_factory=SessionService)
    clock: Callable[[], float] = time.time

    def enrol(self, db: Session, account: Account) -> Enrolment:
        """Create or replace the account's credential, unconfirmed, with a fresh secret.

        Ends every session of the account (a factor changed); the caller may start a new one.
        """
        if account.kind != AccountKind.STAFF.value:
            raise TotpError("TOTP is for staff accounts only")
        if account.status != "active":
            raise TotpError("the account is disabled")
        credential = db.scalar(
            select(TotpCredential)
            .where(TotpCredential.account_id == account.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        key_id = self.keys.active_key_id(db, WrappingKey.MASTER.value)
        if credential is None:
            credential = TotpCredential(id=uuid7(), account_id=account.id)
            db.add(credential)
        secret = pyotp.random_base32(SECRET_CHARACTERS)
        credential.seal("secret", secret, self.cipher, key_id)
        credential.data_key_id = key_id
        credential.confirmed_at = None
        db.flush()
        self.sessions.end_all_for_account(db, account.id, "factor_changed")
        uri = pyotp.TOTP(
            secret, digits=DIGITS, interval=PERIOD, issuer=ISSUER, name=account.username
        ).provisioning_uri()
        return Enrolment(otpauth_uri=uri, qr_svg=qr_svg(uri))

    def confirm(
        self, db: Session, account: Account, code: str, *, now: datetime | float | None = None
    ) -> Reason | None:
        """Confirm a pending enrolment with a valid code (consuming its step); None if done.

        NO_TOTP if there is no pending enrolment (none at all, or already confirmed).
        """
        checked = self.check(db, account.id, code, now=now, pending=True)
        reason = checked.reason if checked.reason is not None else self.consume(db, checked)
        if reason is None:
            credential = db.scalar(
                select(TotpCredential).where(TotpCredential.account_id == account.id)
            )
            assert credential is not None
            credential.confirmed_at = utcnow()
            db.flush()
        return reason

    def verify(
        self, db: Session, account: Account, code: str, *, now: datetime | float | None = None
    ) -> Reason | None:
        """None if `code` is valid now for the account's confirmed credential and its step was
        not used before (it is used now); otherwise NO_TOTP, BAD_OTP or OTP_REPLAYED."""
        checked = self.check(db, account.id, code, now=now)
        return checked.reason if checked.reason is not None else self.consume(db, checked)

    def check(
        self,
        db: Session,
        account_id: uuid.UUID | None,
        code: str,
        *,
        now: datetime | float | None = None,
        pending: bool = False,
    ) -> TotpCheck:
        """Compare `code` with the confirmed (or, with `pending`, the unconfirmed) credential.

        Reads only; costs about the same whether or not the account or credential exists.
        """
        moment = _timestamp(now) if now is not None else self.clock()
        credential = (
            None
            if account_id is None
            else db.scalar(select(TotpCredential).where(TotpCredential.account_id == account_id))
        )
        usable = credential is not None and (credential.confirmed_at is None) == pending
        secret = self._secret(credential) if credential is not None and usable else _DUMMY_SECRET
        normalised = _normalise_code(code)
        steps = _matching_steps(secret, normalised or "", moment)
        if account_id is None or not usable:
            return TotpCheck(account_id, Reason.NO_TOTP)
        if normalised is None or not steps:
            return TotpCheck(account_id, Reason.BAD_OTP)
        return TotpCheck(account_id, None, steps)

    def consume(self, db: Session, checked: TotpCheck) -> Reason | None:
        """The replay guard: record the matched steps; OTP_REPLAYED if one was used already.

        Atomic: the insert runs in a SAVEPOINT and the primary key refuses a second one, so of
        concurrent transactions using the same step exactly one can commit it.
        """
        if checked.reason is not None or not checked.steps or checked.account_id is None:
            raise ValueError("only a matching check can be consumed")
        latest = db.scalar(
            select(func.max(TotpUsedStep.step)).where(TotpUsedStep.account_id == checked.account_id)
        )
        if latest is not None and latest >= min(checked.steps):
            return Reason.OTP_REPLAYED
        try:
            with db.begin_nested():
                for step in checked.steps:
                    db.add(TotpUsedStep(account_id=checked.account_id, step=step))
                db.flush()
        except IntegrityError:
            return Reason.OTP_REPLAYED
        db.execute(
            delete(TotpUsedStep).where(
                TotpUsedStep.account_id == checked.account_id,
                TotpUsedStep.step < min(checked.steps),
            )
        )
        return None

    def status(self, db: Session, account_id: uuid.UUID) -> TotpStatus:
        confirmed_at = db.execute(
            select(TotpCredential.confirmed_at).where(TotpCredential.account_id == account_id)
        ).one_or_none()
        if confirmed_at is None:
            return TotpStatus.NONE
        return TotpStatus.PENDING if confirmed_at[0] is None else TotpStatus.CONFIRMED

    def _secret(self, credential: TotpCredential) -> str:
        secret = credential.unseal("secret", self.cipher)
        if not isinstance(secret, str):
            raise TypeError("a TOTP secret must unseal to a string")
        return secret
