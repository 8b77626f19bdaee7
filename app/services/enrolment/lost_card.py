"""A subject reports their card lost, with their username and password alone.

The card is the factor that is missing, so the report cannot need it; what it can do is only
in the safe direction (cards stop working, sessions end), so the password suffices.

Guarantees:
- throttled and recorded exactly like a login (`AttemptLog`: per username and per address,
  method `password`, the precise reason in the attempt row); exactly one argon2id verification
  per non-throttled report, unknown usernames included (timing does not reveal accounts);
- on success every active card of the account is revoked (reason `lost`) and every session of
  the account ends at once, in the same unit of work; a later login with the card is refused;
- every report, done or refused, writes one query-log entry (`auth:card:report_lost`), the
  subject named only by the blind index of their ID number;
- the caller learns only done, throttled, or one generic failure; nothing here logs a
  password.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AccountKind, Subject
from app.services.auth.cards import active_cards, revoke
from app.services.auth.login_attempts import AttemptLog, Method, Outcome, Reason
from app.services.auth.passwords import PasswordHashing
from app.services.auth.sessions import SessionService, lock_for_login
from app.services.enrolment.steps import Actor, log_step
from app.services.querylog.log import QueryLog
from crypto.keys import KeyProvider
from policies.actions import Action

ACTION = Action.AUTH_CARD_REPORT_LOST.value


@dataclass(frozen=True)
class LostCardReport:
    outcome: Outcome
    cards_revoked: int = 0
    sessions_ended: int = 0


@dataclass(frozen=True)
class LostCardService:
    provider: KeyProvider
    log: QueryLog
    passwords: PasswordHashing

    def report(
        self, db: Session, *, username: str, password: str, actor: Actor, now: datetime
    ) -> LostCardReport:
        """Revoke the account's active cards and end its sessions if the password is right."""
        attempts = AttemptLog(self.provider)
        key = attempts.username_key(username)
        account = lock_for_login(db, username)
        account_id = account.id if account is not None else None
        bidx = None
        if account is not None and account.subject_id is not None:
            bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == account.subject_id))

        def record(outcome: Outcome, reason: Reason) -> None:
            attempts.record(
                db,
                username_key=key,
                account_id=account_id,
                method=Method.PASSWORD,
                outcome=outcome,
                reason=reason,
                address=actor.client_address,
            )
            done = outcome is Outcome.SUCCESS
            who = replace(actor, kind="subject", account_id=account_id) if done else actor
            refused = None if done else reason.value
            log_step(db, self.log, who, ACTION, refused=refused, subject_bidx=bidx, at=now)

        if attempts.throttled(db, key, actor.client_address):
            record(Outcome.THROTTLED, Reason.TOO_MANY_FAILURES)
            return LostCardReport(Outcome.THROTTLED)
        matches = self.passwords.verify(account.password_hash if account else None, password)
        reason: Reason | None = None
        if account is None:
            reason = Reason.UNKNOWN_ACCOUNT
        elif account.kind != AccountKind.SUBJECT.value:
            reason = Reason.WRONG_KIND
        elif account.status != "active":
            reason = Reason.DISABLED_ACCOUNT
        elif not matches:
            reason = Reason.BAD_PASSWORD
        if reason is not None or account is None:
            record(Outcome.FAILURE, reason or Reason.UNKNOWN_ACCOUNT)
            return LostCardReport(Outcome.FAILURE)
        revoked = ended = 0
        for card in active_cards(db, account.id, now=now):
            done = revoke(db, card.id, "lost", now=now)
            revoked += int(done.newly_revoked)
            ended += done.sessions_ended
        ended += SessionService().end_all_for_account(db, account.id, "card_revoked")
        record(Outcome.SUCCESS, Reason.OK)
        return LostCardReport(Outcome.SUCCESS, revoked, ended)
