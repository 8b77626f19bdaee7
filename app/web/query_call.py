"""One attempt at a query action, as every query endpoint of the self-service handles it.

Guarantees (docs/queries.md, "The shape of every query endpoint"):
- `unit()` is the one writing unit of work of the attempt; whatever is appended to the log in
  it commits with the answer or not at all. An endpoint may read (and open) what it will
  show in a `snapshot()` first, a read-only unit that holds no write lock; what it read is
  released only after `unit()` committed. If the HSM or the database fails inside either unit
  (the log append included), that unit rolls back, a `failed` entry is written in a fresh unit
  (`record_failure`), and the exception goes on to the 503 handler: nothing is disclosed;
- every entry names the caller by kind and account id (never a username, session id or token),
  the subject only by blind index, the request id and the client address;
- `body()` reads the JSON body without ever raising: an oversized or malformed body is an
  answer the view can log as a denied attempt before refusing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import Response, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.container import Container, container
from app.services.auth.callers import caller_for
from app.services.billing.allowances import free_report_key, free_report_taken
from app.services.failures import DATABASE_FAILURES, KEY_FAILURES
from app.services.policy import Action, Decision, Target
from app.services.querylog.append_pg import GuardedAppend
from app.services.querylog.log import QueryAttempt, record_failure
from app.web.identity import client_address, current_principal
from app.web.queries import request_id

#: PostgreSQL: a free own report taken and its entry appended as one statement.
_FREE_REPORT_AND_ENTRY = GuardedAppend(free_report_taken)
TOO_LARGE = "body_too_large"
MALFORMED = "malformed_body"


def today() -> date:
    """The service's current day (tests move it)."""
    return date.today()


class QueryCall:
    """The caller, the decision and the log entries of one attempt at `action`."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.parts: Container = container()
        self.principal = current_principal()
        self.caller = caller_for(self.principal)
        self.request_id = request_id()
        self.address = client_address()
        self.subject_bidx: bytes | None = None
        self.decision: Decision | None = None
        self.on = today()

    @property
    def actor_ref(self) -> str:
        return "anonymous" if self.principal is None else str(self.principal.account_id)

    def decide(self, target: Target) -> Decision:
        self.decision = self.parts.policy.decide(self.caller, self.action, target, on=self.on)
        return self.decision

    def attempt(self, decision: str, reason: str, **details: Any) -> QueryAttempt:
        return QueryAttempt(
            action=self.action.value,
            decision=decision,
            reason=reason,
            actor_kind=self.caller.kind,
            actor_ref=self.actor_ref,
            request_id=self.request_id,
            client_address=self.address,
            subject_bidx=self.subject_bidx,
            rule_ids=() if self.decision is None else self.decision.rule_ids,
            **details,
        )

    def log(self, db: Any, decision: str, reason: str, **details: Any) -> None:
        """Append this attempt's entry in the unit of work `db` (no try/except: a failure
        propagates and nothing is released)."""
        self.parts.query_log().append(db, self.attempt(decision, reason, **details))

    def deny(self, db: Any, reason: str, answer: tuple[Response, int]) -> tuple[Response, int]:
        """Log a denied attempt and hand back the refusal to send once the unit commits."""
        self.log(db, "denied", reason)
        return answer

    def take_free_report_and_log(self, *, limit: int, reason: str, **details: Any) -> bool:
        """PostgreSQL: take one of the account's `limit` free reports of this year and append
        the allowed entry as one statement in a unit of its own (`Container.statement_unit`),
        committed together; it never calls the HSM, and a failure rolls both back (503, a
        `failed` entry). False, with nothing taken or written, when they are used up, when a
        checkpoint is due, or on SQLite, whose unit has no round trips to save: the caller's
        writing unit (`unit()`) then takes the report and appends (and signs), or asks for a
        fee."""
        principal = self.principal
        assert principal is not None  # a free report is a logged-in subject's
        if limit <= 0 or self.parts.engine.dialect.name != "postgresql":
            return False
        with self._failures_recorded(), self.parts.statement_unit() as connection:
            logged = self.parts.query_log().append_if(
                connection,
                self.attempt("allowed", reason, **details),
                _FREE_REPORT_AND_ENTRY,
                free_report_key(principal.account_id, self.on.year, limit),
            )
        return logged is not None

    @contextmanager
    def unit(self) -> Iterator[Any]:
        """The writing unit of work of the attempt (the log entry commits with it), on a Core
        connection: a step that needs the ORM opens `parts.orm(connection)` inside it. Its
        flush to disk runs while the answer is built; the answer waits for it before it
        leaves, and if that flush fails, the answer is 503 and this attempt is logged as
        failed too (`flush_failed`)."""
        with (
            self._failures_recorded(),
            self.parts.core_transaction(durable_before_answer=True) as connection,
        ):
            yield connection
        if self.parts.group_commit is not None:
            g.setdefault(_AWAITING_FLUSH, []).append(self)

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A read-only unit before `unit()`: one consistent snapshot of what the answer shows,
        read (and opened) without holding the write lock. Nothing read here is released until
        `unit()` has committed the attempt's log entry."""
        with self._failures_recorded(), self.parts.snapshot() as db:
            yield db

    @contextmanager
    def _failures_recorded(self) -> Iterator[None]:
        try:
            yield
        except KEY_FAILURES + DATABASE_FAILURES as exc:
            reason = "key_failure" if isinstance(exc, KEY_FAILURES) else "database_failure"
            record_failure(self.parts, self.attempt("failed", reason))
            raise


#: The query calls whose units committed in this request with their flush still running.
_AWAITING_FLUSH = "creditgate_attempts_awaiting_flush"


def flush_failed() -> None:
    """The flush of this request's query units failed after they committed (the answer will
    be 503): write a `failed` entry for each attempt, as for any other failure of its unit.
    Never raises (`record_failure`)."""
    parts = container()
    for call in g.pop(_AWAITING_FLUSH, ()):
        record_failure(parts, call.attempt("failed", "database_failure"))


def body() -> tuple[Any, str | None]:
    """(the parsed JSON body or None, None) or (None, TOO_LARGE | MALFORMED)."""
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return None, TOO_LARGE
    if not raw.strip():
        return None, None
    parsed = request.get_json(silent=True, force=True)
    if parsed is None:
        return None, MALFORMED
    return parsed, None


def body_refusal(problem: str) -> tuple[Response, int]:
    if problem == TOO_LARGE:
        return jsonify(
            error="request_entity_too_large", message="The request body is too large."
        ), 413
    return jsonify(error="bad_request", message="The body must be a JSON object."), 400


def bad_request(message: str) -> tuple[Response, int]:
    return jsonify(error="bad_request", message=message), 400
