"""The one shape of a logged query: every attempt at a query action writes exactly one entry.

A use case is a function of a `LoggedQuery`, run by `run_logged`. Inside it the use case may
read in `snapshot()` units (read-only, no write lock) and writes in `unit()`, the writing unit
of work in which it decides, charges and appends the attempt's entry with `allow` or `deny`;
that unit's commit releases the answer. The guarantees:

- exactly one entry per attempt. `allow`/`deny` append in the writing unit; when that unit
  commits, the attempt is logged. If anything fails before that — the HSM, the database, the
  log append itself, or an unexpected exception (a bug) — the unit rolls back, `run_logged`
  writes one `failed` entry in a fresh unit (`record_failure`: reason `key_failure`,
  `database_failure` or `internal_error`) and re-raises, so the caller answers 503 or 500 and
  nothing read is disclosed;
- a use case that ends without having logged is a bug: it is logged as failed and raises;
- nothing is released before its entry commits: a use case builds its whole answer inside the
  writing unit, so nothing that can fail runs after the commit;
- every entry names the caller by kind and account id or client id (never a username, session
  id or token), the subject only by blind index, the request id and the client address.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.clock import Clock
from app.services.failures import DATABASE_FAILURES, KEY_FAILURES
from app.services.querylog.log import LoggedEntry, QueryAttempt, QueryLog, record_failure
from policies.actions import Action
from policies.decision import Caller, Decision, Target
from policies.engine import PolicyEngine

logger = logging.getLogger("creditgate.query_log")
T = TypeVar("T")


class Parts(Protocol):
    """What a logged query needs of the application (the container, structurally)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def policy(self) -> PolicyEngine: ...

    def unit(self) -> AbstractContextManager[Session]: ...

    def snapshot(self) -> AbstractContextManager[Connection]: ...

    def query_log(self) -> QueryLog: ...


@dataclass(frozen=True)
class Asker:
    """Who asks and from where, as authenticated before the use case runs. `actor_ref` is the
    account id (people) or the client id (institutions); it is what the entry names."""

    caller: Caller
    actor_ref: str
    request_id: str
    client_address: str
    account_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None  # a subject account's own subject
    institution_id: uuid.UUID | None = None

    @property
    def actor_kind(self) -> str:
        return self.caller.kind


@dataclass(frozen=True)
class Body:
    """A request body as the web layer read it: the parsed JSON (None when there was none),
    or why it could not be read (`TOO_LARGE`, `MALFORMED`). Reading it never raised."""

    value: Any = None
    problem: str | None = None
    why: str | None = None  # what was wrong with a body that is not JSON, when known


class UnloggedAttempt(RuntimeError):
    """A use case ended without logging its attempt (a bug: it is logged as failed)."""


class LoggedQuery:
    """One attempt at `action` by `asker`: the decision, the subject and the details the
    attempt's entry names, and the units it runs in."""

    def __init__(self, parts: Parts, action: Action, asker: Asker) -> None:
        self.parts = parts
        self.action = action
        self.asker = asker
        self.on: date = parts.clock.today()
        self.at: datetime = parts.clock.now()
        self.decision: Decision | None = None
        self.subject_bidx: bytes | None = None
        self.purpose: str | None = None
        self.consent_jti: str | None = None
        self.legal_basis: str | None = None  # a government query's reference, once well-formed
        self.entry: LoggedEntry | None = None
        self._log = parts.query_log()
        self._pending: LoggedEntry | None = None

    def decide(self, target: Target) -> Decision:
        self.decision = self.parts.policy.decide(self.asker.caller, self.action, target, on=self.on)
        return self.decision

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only unit: one consistent state, no write lock. Nothing read here may leave
        before the writing unit has committed the entry."""
        with self.parts.snapshot() as db:
            yield db

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """The writing unit of the attempt: its entry commits with it, or not at all."""
        if self.entry is not None:
            raise UnloggedAttempt("an attempt is logged once")
        with self.parts.unit() as db:
            yield db
        if self._pending is not None:  # committed: the attempt is logged
            self.entry, self._pending = self._pending, None

    def allow(
        self,
        db: Session,
        *,
        released: Sequence[str] = (),
        fee_fen: int = 0,
        reason: str | None = None,
    ) -> LoggedEntry:
        """Append the allowed entry in the writing unit `db`; `reason` defaults to the
        decision's (a check names its verdict instead)."""
        if self.decision is None or not self.decision.allowed:
            raise ValueError("an allowed entry needs an allowing decision")
        why = self.decision.reason if reason is None else reason
        return self._append(db, self.attempt("allowed", why, released, fee_fen))

    def deny(self, db: Session, reason: str | None = None) -> LoggedEntry:
        """Append the denied entry in the writing unit `db`; `reason` defaults to the
        decision's."""
        if reason is None:
            if self.decision is None:
                raise ValueError("a denial names its reason when there is no decision")
            reason = self.decision.reason
        return self._append(db, self.attempt("denied", reason))

    def attempt(
        self,
        decision: str,
        reason: str,
        released: Sequence[str] = (),
        fee_fen: int = 0,
    ) -> QueryAttempt:
        asker = self.asker
        return QueryAttempt(
            action=self.action.value,
            decision=decision,
            reason=reason,
            actor_kind=asker.actor_kind,
            actor_ref=asker.actor_ref,
            request_id=asker.request_id,
            client_address=asker.client_address,
            subject_bidx=self.subject_bidx,
            purpose=self.purpose,
            consent_jti=self.consent_jti,
            legal_basis=self.legal_basis,
            rule_ids=() if self.decision is None else self.decision.rule_ids,
            fields_released=released,
            fee_fen=fee_fen,
            at=self.at,
        )

    def _append(self, db: Session, attempt: QueryAttempt) -> LoggedEntry:
        if self._pending is not None or self.entry is not None:
            raise UnloggedAttempt("an attempt writes one entry")
        self._pending = self._log.append(db, attempt)
        return self._pending


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, KEY_FAILURES):
        return "key_failure"
    if isinstance(exc, DATABASE_FAILURES):
        return "database_failure"
    return "internal_error"


def run_logged(
    parts: Parts, action: Action, asker: Asker, use_case: Callable[[LoggedQuery], T]
) -> T:
    """Run `use_case` as one logged attempt (see the module's guarantees)."""
    query = LoggedQuery(parts, action, asker)
    try:
        answer = use_case(query)
        if query.entry is None:
            raise UnloggedAttempt(f"{action.value} answered without logging its attempt")
    except Exception as exc:
        if query.entry is None:
            record_failure(parts, query.attempt("failed", failure_reason(exc)))
        if not isinstance(exc, KEY_FAILURES + DATABASE_FAILURES):
            logger.error("%s failed: %s", action.value, type(exc).__name__)
        raise
    return answer
