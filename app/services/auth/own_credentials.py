"""People manage their own password and sessions; operators end an account's sessions.

Guarantees:
- `change_password`: the current password is checked under the login throttle (per username
  and per address, recorded in `login_attempts` like a login: method `password`); the new one
  must satisfy `password_policy` and differ from the current; on success the hash is replaced,
  the operator-set flag (`password_must_change`) is cleared, every *other* session of the
  account ends (`factor_changed`) and the caller's own session is replaced by a new id;
- `set_by_operator`: an operator's password for an account (commands `accounts create-staff`,
  `accounts set-password`) ends all its sessions and must be changed at the next login: until
  then the gate lets that session only change the password or log out;
- `sessions` lists an account's live sessions by a handle (16 hex digits of a hash of the
  stored hash: no session id, nothing that leads back to one), with start, last activity,
  methods and which one is the caller's; `end_own` ends one of them (only the caller's own
  account's) after the caller typed their password again, under the same throttle;
  `end_all` ends every session of a named account (operators);
- nothing here logs or returns a password or a session id. Nothing here commits.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, AuthSession
from app.models.base import as_utc, utcnow
from app.services.auth.accounts import AccountError, AccountService
from app.services.auth.login_attempts import AttemptLog, Method, Outcome, Reason
from app.services.auth.password_policy import PasswordRejected
from app.services.auth.sessions import LoginResult, Principal, SessionService, stored_hash

HANDLE_LENGTH = 16


def session_handle(id_hash: bytes) -> str:
    """The public handle of a stored session: never the id, nor its stored hash."""
    return hashlib.sha256(b"cg-session-handle|" + id_hash).hexdigest()[:HANDLE_LENGTH]


@dataclass(frozen=True)
class SessionView:
    handle: str
    started_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    methods: tuple[str, ...]
    current: bool


@dataclass(frozen=True)
class PasswordChange:
    """What a change came to: `result` as for a login (the new session on success), and the
    policy's reasons when the new password was refused (the current one was right)."""

    result: LoginResult
    policy_reasons: tuple[str, ...] = ()


@dataclass
class OwnCredentials:
    attempts: AttemptLog
    accounts: AccountService
    sessions: SessionService

    def change_password(
        self,
        db: Session,
        *,
        principal: Principal,
        current: str,
        new: str,
        address: str,
        token: str | None,
    ) -> PasswordChange:
        refused, account = self._reauthenticate(db, principal, current, address, record_ok=False)
        if refused is not None or account is None:
            return PasswordChange(refused or LoginResult(Outcome.FAILURE, Reason.BAD_PASSWORD))
        key = self.attempts.username_key(principal.username)
        if new == current:
            return PasswordChange(
                LoginResult(Outcome.FAILURE, Reason.BAD_REQUEST),
                ("The new password must differ from the current one.",),
            )
        try:
            self.accounts.change_password(db, account, new)  # ends every session
        except PasswordRejected as exc:
            return PasswordChange(LoginResult(Outcome.FAILURE, Reason.BAD_REQUEST), exc.reasons)
        account.password_must_change = False
        db.flush()
        self._record(db, key, account.id, Outcome.SUCCESS, Reason.OK, address)
        fresh = self.sessions.start(db, account, principal.methods, card_id=principal.card_id)
        if token is not None:
            self.sessions.end(db, token, "replaced")
        return PasswordChange(
            LoginResult(Outcome.SUCCESS, Reason.OK, fresh, self.sessions.resume(db, fresh))
        )

    def set_by_operator(self, db: Session, account: Account, password: str) -> int:
        """An operator sets `account`'s password: policy-checked, every session ended, to be
        changed at the next login. Returns how many sessions ended."""
        ended = self.accounts.change_password(db, account, password)
        account.password_must_change = True
        db.flush()
        return ended

    def sessions_of(
        self, db: Session, account_id: uuid.UUID, *, token: str | None = None
    ) -> list[SessionView]:
        now = utcnow()
        mine = stored_hash(token) if token is not None else None
        rows = db.scalars(
            select(AuthSession)
            .where(
                AuthSession.account_id == account_id,
                AuthSession.ended_at.is_(None),
                AuthSession.expires_at > now,
            )
            .order_by(AuthSession.last_seen_at.desc())
        )
        return [
            SessionView(
                handle=session_handle(row.id_hash),
                started_at=as_utc(row.created_at),
                last_seen_at=as_utc(row.last_seen_at),
                expires_at=as_utc(row.expires_at),
                methods=tuple(sorted(row.methods.split("+"))),
                current=row.id_hash == mine,
            )
            for row in rows
            if (now - as_utc(row.last_seen_at)).total_seconds() < row.idle_seconds
        ]

    def end_own(
        self, db: Session, *, principal: Principal, handle: str, password: str, address: str
    ) -> LoginResult:
        """End one of the caller's own sessions, named by `handle`, after the caller typed
        their password again (checked under the login throttle). SUCCESS when it ended;
        FAILURE with BAD_REQUEST when none of theirs has the handle."""
        refused, _ = self._reauthenticate(db, principal, password, address, record_ok=True)
        if refused is not None:
            return refused
        rows = db.scalars(
            select(AuthSession.id_hash).where(
                AuthSession.account_id == principal.account_id, AuthSession.ended_at.is_(None)
            )
        )
        for id_hash in rows:
            if session_handle(id_hash) == handle:
                self.sessions.end_stored(db, [id_hash], "ended_by_holder")
                return LoginResult(Outcome.SUCCESS, Reason.OK)
        return LoginResult(Outcome.FAILURE, Reason.BAD_REQUEST)

    def _reauthenticate(
        self, db: Session, principal: Principal, password: str, address: str, *, record_ok: bool
    ) -> tuple[LoginResult | None, Account | None]:
        """(None, account) when `password` is the caller's current password and the throttle
        allows; otherwise the refusal (recorded like a failed login)."""
        key = self.attempts.username_key(principal.username)
        if self.attempts.throttled(db, key, address):
            self._record(db, key, None, Outcome.THROTTLED, Reason.TOO_MANY_FAILURES, address)
            return LoginResult(Outcome.THROTTLED, Reason.TOO_MANY_FAILURES), None
        account = self.accounts.get(db, principal.account_id)
        if (
            account is None
            or account.status != "active"
            or not self.accounts.password_matches(account, password)
        ):
            account_id = None if account is None else account.id
            self._record(db, key, account_id, Outcome.FAILURE, Reason.BAD_PASSWORD, address)
            return LoginResult(Outcome.FAILURE, Reason.BAD_PASSWORD), None
        if record_ok:
            self._record(db, key, account.id, Outcome.SUCCESS, Reason.OK, address)
        return None, account

    def end_all(self, db: Session, username: str) -> int:
        """End every session of the account named `username` (operators)."""
        account = self.accounts.find(db, username)
        if account is None:
            raise AccountError(f"No account named {username!r}.")
        return self.sessions.end_all_for_account(db, account.id, "ended_by_operator")

    def _record(
        self,
        db: Session,
        key: bytes,
        account_id: uuid.UUID | None,
        outcome: Outcome,
        reason: Reason,
        address: str,
    ) -> None:
        self.attempts.record(
            db,
            username_key=key,
            account_id=account_id,
            method=Method.PASSWORD,
            outcome=outcome,
            reason=reason,
            address=address,
        )
