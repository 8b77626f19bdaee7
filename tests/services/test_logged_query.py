"""`run_logged`, the one shape of a logged query: one entry per attempt, whatever happens."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry
from app.services.auth.callers import ANONYMOUS
from app.services.outcomes import Answered
from app.services.querylog.attempt import Asker, LoggedQuery, UnloggedAttempt, run_logged
from policies.actions import Action
from policies.decision import Target

ASKER = Asker(caller=ANONYMOUS, actor_ref="anonymous", request_id="req-1", client_address="::1")


def _entries(app: Flask) -> list[tuple[str, str]]:
    with container(app).snapshot() as db:
        rows = db.execute(
            select(QueryLogEntry.decision, QueryLogEntry.reason).order_by(QueryLogEntry.seq)
        )
        return [(decision, reason) for decision, reason in rows]


def test_a_denied_attempt_commits_its_one_entry(app: Flask) -> None:
    def use_case(q: LoggedQuery) -> Any:
        with q.unit() as db:
            q.decide(Target())
            q.deny(db)
        return Answered({})

    run_logged(container(app), Action.SELF_REPORT_READ, ASKER, use_case)
    assert _entries(app) == [("denied", "login_required")]  # the policy's reason


def test_a_use_case_that_logs_nothing_is_a_bug_logged_as_failed(app: Flask) -> None:
    with pytest.raises(UnloggedAttempt):
        run_logged(container(app), Action.SELF_REPORT_READ, ASKER, lambda q: Answered({}))
    assert _entries(app) == [("failed", "internal_error")]


def test_a_failure_after_the_append_rolls_the_entry_back_and_logs_one_failure(
    app: Flask,
) -> None:
    def use_case(q: LoggedQuery) -> Any:
        with q.unit() as db:
            q.decide(Target())
            q.deny(db)
            raise KeyError("a bug after the append")

    with pytest.raises(KeyError):
        run_logged(container(app), Action.SELF_REPORT_READ, ASKER, use_case)
    assert _entries(app) == [("failed", "internal_error")]


def test_an_attempt_writes_one_entry_never_two(app: Flask) -> None:
    def use_case(q: LoggedQuery) -> Any:
        with q.unit() as db:
            q.decide(Target())
            q.deny(db)
            q.deny(db, "again")
        return Answered({})

    with pytest.raises(UnloggedAttempt, match="one entry"):
        run_logged(container(app), Action.SELF_REPORT_READ, ASKER, use_case)
    assert _entries(app) == [("failed", "internal_error")]
