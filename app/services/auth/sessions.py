"""Server-side login sessions.

Guarantees:
- a session id is 256 random bits, handed to the browser once and stored only as its SHA-256
  hash; every login and every step-up makes a new id (no fixation);
- a session ends after 15 idle minutes for staff, 30 for public users and institutions' people,
  and 12 hours after login whatever happens; `resume` refuses an ended, idle-expired or
  over-age session, or one whose account is disabled;
- revoking a card, disabling an account or changing a factor ends every session of that
  account (or card) at once: `end_all_for_account` / `end_all_for_card`;
- at most `MAX_SESSIONS` live sessions per account: starting one more ends the least recently
  used (`session_limit`);
- a session id never reaches a log or an error message.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from app.models import Account, AccountKind, AccountRole, AuthSession
from app.models.base import as_utc, utcnow
from app.services.auth.login_attempts import Outcome, Reason

IDLE = {
    AccountKind.STAFF.value: timedelta(minutes=15),
    AccountKind.SUBJECT.value: timedelta(minutes=30),
    AccountKind.INSTITUTION.value: timedelta(minutes=15),
}
ABSOLUTE = timedelta(hours=12)
#: Live sessions per account: a new login beyond this ends the least recently used one
#: (reason `session_limit`), so a stolen password cannot keep sessions open unnoticed and
#: the holder's own list (`GET /api/v1/auth/sessions`) stays short.
MAX_SESSIONS = 5
#: Activity is recorded with this granularity: idle limits hold to within a minute.
TOUCH_EVERY = timedelta(minutes=1)


_SESSIONS = cast(Table, AuthSession.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_ACCOUNT_ROLES = cast(Table, AccountRole.__table__)
#: Run before every logged-in request.
_PEEK = (
    select(
        _SESSIONS.c.account_id,
        _SESSIONS.c.methods,
        _SESSIONS.c.card_id,
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.idle_seconds,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.csrf_token,
        _SESSIONS.c.ended_at,
        _ACCOUNTS.c.username,
        _ACCOUNTS.c.kind,
        _ACCOUNTS.c.status,
        _ACCOUNTS.c.subject_id,
        _ACCOUNTS.c.password_must_change,
    )
    .join(_ACCOUNTS, _ACCOUNTS.c.id == _SESSIONS.c.account_id)
    .where(_SESSIONS.c.id_hash == bindparam("id_hash"))
)


class _PeekRow(NamedTuple):
    """A row of `_PEEK`, its columns in order."""

    account_id: uuid.UUID
    methods: str
    card_id: uuid.UUID | None
    last_seen_at: datetime
    idle_seconds: int
    expires_at: datetime
    csrf_token: str
    ended_at: datetime | None
    username: str
    kind: str
    status: str
    subject_id: uuid.UUID | None
    password_must_change: bool


_ROLES = select(_ACCOUNT_ROLES.c.role).where(_ACCOUNT_ROLES.c.account_id == bindparam("account_id"))


def stored_hash(token: str) -> bytes:
    """What is stored for a session id (its SHA-256)."""
    return _hash(token)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


@dataclass(frozen=True)
class Principal:
    """Who is logged in, how strongly, under which session (the id itself is not kept here)."""

    account_id: uuid.UUID
    username: str
    kind: str
    roles: frozenset[str]
    methods: frozenset[str]
    csrf_token: str
    card_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    #: The password was set by an operator: only changing it (and logging out) is allowed.
    must_change_password: bool = False


def lock_for_login(session: Session, username: str) -> Account | None:
    """The account named `username`, share-locked until the login's transaction ends."""
    return session.scalars(
        select(Account)
        .where(Account.username == username)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).one_or_none()


@dataclass(frozen=True)
class LoginResult:
    """What a login attempt came to; `token` (the new session id, for the cookie only, never
    logged) and `principal` are set on success only."""

    outcome: Outcome
    reason: Reason
    token: str | None = field(default=None, repr=False)
    principal: Principal | None = None


class SessionService:
    def start(
        self,
        session: Session,
        account: Account,
        methods: frozenset[str],
        *,
        card_id: uuid.UUID | None = None,
        replaces: str | None = None,
    ) -> str:
        """Open a session; returns the new id (to be set in the cookie, never logged).

        `replaces` ends the caller's previous session (step-up or re-login) in the same unit.
        """
        if replaces is not None:
            self.end(session, replaces, "replaced")
        now = utcnow()
        token = secrets.token_urlsafe(32)
        session.add(
            AuthSession(
                id_hash=_hash(token),
                account_id=account.id,
                methods="+".join(sorted(methods)),
                card_id=card_id,
                last_seen_at=now,
                idle_seconds=int(IDLE[account.kind].total_seconds()),
                expires_at=now + ABSOLUTE,
                csrf_token=secrets.token_urlsafe(32),
            )
        )
        session.flush()
        others = session.scalars(
            select(AuthSession.id_hash)
            .where(
                AuthSession.account_id == account.id,
                AuthSession.ended_at.is_(None),
                AuthSession.expires_at > now,
                AuthSession.id_hash != _hash(token),
            )
            .order_by(AuthSession.last_seen_at.desc(), AuthSession.created_at.desc())
        ).all()
        excess = list(others[MAX_SESSIONS - 1 :])
        if excess:
            self._end_rows(session, excess, "session_limit")
        return token

    def peek(self, connection: Connection, token: str) -> tuple[Principal | None, bool]:
        """Read-only resume: `(principal, False)` for a live session that needs no write now,
        `(None, False)` for an unknown or ended one, `(None, True)` when `resume` must run in a
        writing unit (the session is to be ended, or its activity time is due). Lets the
        common case skip the write lock (SQLite) and the row write entirely. Core reads (the
        session with its account, then a staff account's roles): it runs before every
        logged-in request."""
        found = connection.execute(_PEEK, {"id_hash": _hash(token)}).all()
        if not found:
            return None, False
        row = _PeekRow._make(found[0])  # one row at most: id_hash is unique
        if row.ended_at is not None:
            return None, False
        now = utcnow()
        last_seen = as_utc(row.last_seen_at)
        if (
            now >= as_utc(row.expires_at)
            or now >= last_seen + timedelta(seconds=row.idle_seconds)
            or now - last_seen >= TOUCH_EVERY
            or row.status != "active"
        ):
            return None, True
        principal = _principal(
            connection,
            row,
            row.account_id,
            row.username,
            row.kind,
            row.subject_id,
            must_change=bool(row.password_must_change),
        )
        return principal, False

    def resume(self, session: Session, token: str, *, touch: bool = True) -> Principal | None:
        """The principal of a live session, or None (ended, idle, too old, account disabled)."""
        row = session.get(AuthSession, _hash(token))
        if row is None or row.ended_at is not None:
            return None
        now = utcnow()
        idle_limit = as_utc(row.last_seen_at) + timedelta(seconds=row.idle_seconds)
        if now >= as_utc(row.expires_at) or now >= idle_limit:
            self._end_rows(session, [row.id_hash], "expired")
            return None
        account = session.get(Account, row.account_id)
        if account is None or account.status != "active":
            self._end_rows(session, [row.id_hash], "account_disabled")
            return None
        if touch and now - as_utc(row.last_seen_at) >= TOUCH_EVERY:
            row.last_seen_at = now  # at most one write a minute per session
        return _principal(
            session.connection(),
            row,
            account.id,
            account.username,
            account.kind,
            account.subject_id,
            must_change=account.password_must_change,
        )

    def end(self, session: Session, token: str, reason: str) -> None:
        self._end_rows(session, [_hash(token)], reason)

    def end_stored(self, session: Session, id_hashes: list[bytes], reason: str) -> None:
        """End sessions named by their stored hashes (as listed, never by id)."""
        self._end_rows(session, id_hashes, reason)

    def end_all_for_account(self, session: Session, account_id: uuid.UUID, reason: str) -> int:
        """End every session of the account, including any a login is creating right now.

        Logins share-lock the account row while they verify and start a session
        (`lock_for_login`); this takes it exclusively first, so it waits for them and then
        ends their sessions too, and a login that starts later verifies the changed factors.
        """
        session.execute(select(Account.id).where(Account.id == account_id).with_for_update())
        return self._end_where(session, AuthSession.account_id == account_id, reason)

    def end_all_for_card(self, session: Session, card_id: uuid.UUID, reason: str) -> int:
        return self._end_where(session, AuthSession.card_id == card_id, reason)

    def _end_rows(self, session: Session, hashes: list[bytes], reason: str) -> None:
        self._end_where(session, AuthSession.id_hash.in_(hashes), reason)

    def _end_where(self, session: Session, condition: object, reason: str) -> int:
        result = session.execute(
            update(AuthSession)
            .where(condition, AuthSession.ended_at.is_(None))  # type: ignore[arg-type]
            .values(ended_at=utcnow(), end_reason=reason)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _principal(
    connection: Connection,
    session_row: Any,
    account_id: uuid.UUID,
    username: str,
    kind: str,
    subject_id: uuid.UUID | None,
    *,
    must_change: bool = False,
) -> Principal:
    """The principal of a live session row (`methods`, `csrf_token`, `card_id`) and its
    account. Roles are granted to staff accounts only (`AccountService`): other kinds hold
    none, and their roles are not read."""
    roles: frozenset[str] = (
        frozenset(connection.scalars(_ROLES, {"account_id": account_id}))
        if kind == AccountKind.STAFF.value
        else frozenset()
    )
    return Principal(
        account_id=account_id,
        username=username,
        kind=kind,
        roles=roles,
        methods=frozenset(session_row.methods.split("+")),
        csrf_token=session_row.csrf_token,
        card_id=session_row.card_id,
        subject_id=subject_id,
        must_change_password=must_change,
    )
