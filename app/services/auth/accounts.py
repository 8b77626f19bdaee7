"""Staff accounts: creation, roles and separation of duties, disabling, passwords, staff login.

Guarantees:
- a staff username is 3–64 characters of [a-z0-9._-] (typed input is trimmed and lowercased
  first); a password must satisfy `password_policy` and is stored only as an argon2id hash,
  re-hashed at the next successful login when the hashing parameters change;
- separation of duties (三权分立): no account ever holds the compliance role together with an
  admin role (`admin`, or `key_custodian`, the key-custody admin of ARCHITECTURE §1), whichever
  is granted first. Role changes take a lock on the account first (SELECT … FOR UPDATE on
  PostgreSQL; on SQLite the database write lock, taken by a write before anything is read), so
  two concurrent grants of conflicting roles cannot both commit: the second one sees the first;
- disabling an account, or changing its password, ends all of its sessions in the same
  transaction;
- a staff login (`StaffLogin.login`) needs a staff account that is active, its password and a
  fresh TOTP code from its confirmed credential; it is throttled per username and per address,
  records every attempt with a precise reason, and answers the caller only success or failure.
  An unknown username costs the same argon2 work as a known one; the TOTP code is compared for
  every attempt, but its step is consumed only when everything else is right;
- errors carry fixed messages (and usernames or role names), never a password, code or secret.
Nothing here commits.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.models import Account, AccountKind, AccountRole, Role, TotpCredential
from app.models.base import utcnow
from app.services.auth.login_attempts import AttemptLog, Method, Outcome, Reason, normalise_username
from app.services.auth.password_policy import POLICY, PasswordPolicy
from app.services.auth.passwords import PasswordHashing
from app.services.auth.sessions import LoginResult, Principal, SessionService, lock_for_login
from app.services.auth.totp import Enrolment, TotpService

security_log = logging.getLogger("creditgate.security")
USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,64}")
#: What a login accepts as a username at all (any kind of account); anything else is malformed.
LOGIN_USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{1,64}")
ADMIN_ROLES = frozenset({Role.ADMIN, Role.KEY_CUSTODIAN})
STAFF_METHODS = frozenset({"password", "totp"})


class AccountError(Exception):
    """An account operation was refused; the message is safe to show an operator."""


class SeparationOfDutiesError(AccountError):
    """The role would combine compliance with an admin role on one account."""


def valid_username(username: str) -> str:
    """The normalised username, or AccountError if it breaks the username rules."""
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError(
            "A username has 3 to 64 characters: lowercase letters, digits, '.', '_' or '-'."
        )
    return name


def login_username(raw: object) -> str | None:
    """The normalised username a login names, or None if `raw` cannot be a username."""
    if not isinstance(raw, str):
        return None
    name = normalise_username(raw)
    return name if LOGIN_USERNAME_PATTERN.fullmatch(name) else None


def role_conflict(roles: Iterable[str]) -> str | None:
    """Why `roles` may not be held together by one account, or None if they may."""
    held = {Role(role) for role in roles}
    admins = held & ADMIN_ROLES
    if Role.COMPLIANCE in held and admins:
        names = ", ".join(sorted(admins))
        return (
            "Separation of duties: an account cannot hold the compliance role together with "
            f"an admin role ({names})."
        )
    return None


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise AccountError(f"Unknown role {name!r}; roles are: {known}.") from None


@dataclass(frozen=True)
class AccountSummary:
    username: str
    kind: str
    status: str
    roles: tuple[str, ...]
    totp: str  # none | pending | confirmed


@dataclass
class AccountService:
    passwords: PasswordHashing
    policy: PasswordPolicy = POLICY
    sessions: SessionService = field(default_factory=SessionService)

    def find(self, db: Session, username: str) -> Account | None:
        """The account, share-locked: a concurrent factor change waits for this transaction."""
        return lock_for_login(db, normalise_username(username))

    def get(self, db: Session, account_id: uuid.UUID) -> Account | None:
        return db.get(Account, account_id)

    def roles(self, db: Session, account_id: uuid.UUID) -> frozenset[str]:
        return frozenset(
            db.scalars(select(AccountRole.role).where(AccountRole.account_id == account_id))
        )

    def create_staff(
        self, db: Session, username: str, password: str, roles: Iterable[str]
    ) -> Account:
        """A new active staff account with `roles` (at least one, no conflicting pair)."""
        name = valid_username(username)
        wanted = {_role(role) for role in roles}
        if not wanted:
            raise AccountError("A staff account needs at least one role.")
        conflict = role_conflict(wanted)
        if conflict is not None:
            raise SeparationOfDutiesError(conflict)
        self.policy.check(password, username=name)
        if self.find(db, name) is not None:
            raise AccountError(f"The username {name!r} is taken.")
        account = Account(
            username=name,
            kind=AccountKind.STAFF.value,
            status="active",
            password_hash=self.passwords.hash(password),
        )
        db.add(account)
        db.flush()
        for role in sorted(wanted):
            db.add(AccountRole(account_id=account.id, role=role.value))
        db.flush()
        return account

    def grant_role(self, db: Session, username: str, role: str) -> bool:
        """Grant `role`; False if already held. Refuses a separation-of-duties conflict."""
        wanted = _role(role)
        account = self._locked_staff(db, username)
        held = self.roles(db, account.id)
        if wanted.value in held:
            return False
        conflict = role_conflict(held | {wanted.value})
        if conflict is not None:
            raise SeparationOfDutiesError(conflict)
        db.add(AccountRole(account_id=account.id, role=wanted.value))
        db.flush()
        return True

    def revoke_role(self, db: Session, username: str, role: str) -> bool:
        """Revoke `role`; False if it was not held."""
        wanted = _role(role)
        account = self._locked_staff(db, username)
        result = db.execute(
            delete(AccountRole).where(
                AccountRole.account_id == account.id, AccountRole.role == wanted.value
            )
        )
        return bool(getattr(result, "rowcount", 0))

    def disable(self, db: Session, username: str) -> int:
        """Disable the account and end all its sessions; returns how many were live."""
        account = self._locked(db, username)
        if account.status != "disabled":
            account.status = "disabled"
            account.disabled_at = utcnow()
            db.flush()
        return self.sessions.end_all_for_account(db, account.id, "account_disabled")

    def change_password(self, db: Session, account: Account, new_password: str) -> int:
        """Set a new password (policy-checked) and end all sessions; returns how many ended."""
        self.policy.check(new_password, username=account.username)
        account.password_hash = self.passwords.hash(new_password)
        db.flush()
        return self.sessions.end_all_for_account(db, account.id, "factor_changed")

    def password_matches(self, account: Account | None, password: str) -> bool:
        """Verify without side effects; an unknown account costs a full dummy verification."""
        stored = None if account is None else account.password_hash
        return self.passwords.verify(stored, password)

    def rehash_if_needed(self, db: Session, account: Account, password: str) -> bool:
        """After a verified password: re-hash it under the current parameters if they changed."""
        if account.password_hash is None or not self.passwords.needs_rehash(account.password_hash):
            return False
        account.password_hash = self.passwords.hash(password)
        db.flush()
        return True

    def list_accounts(self, db: Session, kind: str | None = None) -> list[AccountSummary]:
        query = select(Account).order_by(Account.username)
        if kind is not None:
            query = query.where(Account.kind == kind)
        accounts = list(db.scalars(query))
        roles: dict[uuid.UUID, list[str]] = {}
        for account_id, role in db.execute(select(AccountRole.account_id, AccountRole.role)):
            roles.setdefault(account_id, []).append(role)
        totp = {
            account_id: confirmed_at
            for account_id, confirmed_at in db.execute(
                select(TotpCredential.account_id, TotpCredential.confirmed_at)
            )
        }
        return [
            AccountSummary(
                username=account.username,
                kind=account.kind,
                status=account.status,
                roles=tuple(sorted(roles.get(account.id, []))),
                totp=(
                    "none"
                    if account.id not in totp
                    else "pending"
                    if totp[account.id] is None
                    else "confirmed"
                ),
            )
            for account in accounts
        ]

    def _locked(self, db: Session, username: str) -> Account:
        """The account, locked against concurrent role or status changes until commit."""
        name = normalise_username(username)
        if db.get_bind().dialect.name == "sqlite":
            # No row locks on SQLite: a write takes the database write lock (waiting up to the
            # busy timeout), and it must come before the reads that depend on it.
            db.execute(
                update(Account)
                .where(Account.username == name)
                .values(status=Account.status)
                .execution_options(synchronize_session=False)
            )
        account = db.scalar(
            select(Account)
            .where(Account.username == name)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if account is None:
            raise AccountError(f"No account named {name!r}.")
        return account

    def _locked_staff(self, db: Session, username: str) -> Account:
        account = self._locked(db, username)
        if account.kind != AccountKind.STAFF.value:
            raise AccountError("Roles are for staff accounts only.")
        return account


@dataclass
class StaffLogin:
    attempts: AttemptLog
    totp: TotpService
    accounts: AccountService
    sessions: SessionService = field(default_factory=SessionService)

    def login(
        self,
        db: Session,
        *,
        username: str,
        password: str,
        code: str,
        address: str,
        replaces: str | None = None,
    ) -> LoginResult:
        """One staff login attempt, recorded; on success a new session (replacing `replaces`)."""
        key = self.attempts.username_key(username)
        if self.attempts.throttled(db, key, address):
            self._record(db, key, None, Outcome.THROTTLED, Reason.TOO_MANY_FAILURES, address)
            return LoginResult(Outcome.THROTTLED, Reason.TOO_MANY_FAILURES)
        account = self.accounts.find(db, username)
        password_ok = self.accounts.password_matches(account, password)
        checked = self.totp.check(db, None if account is None else account.id, code)
        reason: Reason | None
        if account is None:
            reason = Reason.UNKNOWN_ACCOUNT
        elif account.kind != AccountKind.STAFF.value:
            reason = Reason.WRONG_KIND
        elif account.status != "active":
            reason = Reason.DISABLED_ACCOUNT
        elif not password_ok:
            reason = Reason.BAD_PASSWORD
        else:
            reason = checked.reason or self.totp.consume(db, checked)
        if reason is not None:
            account_id = None if account is None else account.id
            self._record(db, key, account_id, Outcome.FAILURE, reason, address)
            return LoginResult(Outcome.FAILURE, reason)
        assert account is not None
        self.accounts.rehash_if_needed(db, account, password)
        return self._succeed(db, key, account, STAFF_METHODS, address, replaces)

    def reenrol_totp(
        self,
        db: Session,
        *,
        principal: Principal,
        password: str,
        address: str,
        code: str | None = None,
    ) -> tuple[LoginResult, Enrolment | None]:
        """A logged-in staff member replaces their TOTP secret after typing their password again
        and proving the second factor once more: a current code from the authenticator being
        replaced (consumed like a login's), or a session stepped up with their card. A stolen
        password and an unattended session are not enough. The change is a security event
        (`totp.reenrolled`, with the account's username) that the holder and officers see.

        Throttled and recorded like a login. On success every session of the account ends (a
        factor changed) and the caller gets a new one with the same methods, so that they can
        confirm the new secret; the credential stays unconfirmed (logins refused) until then.
        """
        key = self.attempts.username_key(principal.username)
        if self.attempts.throttled(db, key, address):
            self._record(db, key, None, Outcome.THROTTLED, Reason.TOO_MANY_FAILURES, address)
            return LoginResult(Outcome.THROTTLED, Reason.TOO_MANY_FAILURES), None
        account = self.accounts.get(db, principal.account_id)
        password_ok = self.accounts.password_matches(account, password)
        if account is None:  # a live session's account cannot vanish; refuse all the same
            self._record(db, key, None, Outcome.FAILURE, Reason.UNKNOWN_ACCOUNT, address)
            return LoginResult(Outcome.FAILURE, Reason.UNKNOWN_ACCOUNT), None
        if account.status != "active" or not password_ok:
            active = account.status == "active"
            reason = Reason.BAD_PASSWORD if active else Reason.DISABLED_ACCOUNT
            self._record(db, key, account.id, Outcome.FAILURE, reason, address)
            return LoginResult(Outcome.FAILURE, reason), None
        if "card" not in principal.methods:
            checked = self.totp.check(db, account.id, code or "")
            factor = checked.reason or self.totp.consume(db, checked)
            if factor is not None:
                self._record(db, key, account.id, Outcome.FAILURE, factor, address)
                return LoginResult(Outcome.FAILURE, factor), None
        enrolment = self.totp.enrol(db, account)
        security_log.warning(
            "the TOTP authenticator of %s was replaced",
            account.username,
            extra={
                "event": "totp.reenrolled",
                "reason": "card" if "card" in principal.methods else "otp",
                "actor": account.username,
            },
        )
        return self._succeed(db, key, account, principal.methods, address, None), enrolment

    def _succeed(
        self,
        db: Session,
        key: bytes,
        account: Account,
        methods: frozenset[str],
        address: str,
        replaces: str | None,
    ) -> LoginResult:
        token = self.sessions.start(db, account, methods, replaces=replaces)
        principal = self.sessions.resume(db, token, touch=False)
        self._record(db, key, account.id, Outcome.SUCCESS, Reason.OK, address)
        return LoginResult(Outcome.SUCCESS, Reason.OK, token, principal)

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
            method=Method.STAFF,
            outcome=outcome,
            reason=reason,
            address=address,
        )
