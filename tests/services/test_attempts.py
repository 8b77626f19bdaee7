"""The login-attempt log and throttle, on both backends with the real HSM blind-index key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from app.container import container
from app.models import LoginAttempt
from app.models.base import utcnow
from app.services.auth.login_attempts import (
    MAX_FAILURES,
    MAX_FAILURES_PER_ADDRESS,
    AttemptLog,
    Method,
    Outcome,
    Reason,
)


def _fail(app: Flask, log: AttemptLog, username: str, address: str, times: int) -> None:
    with container(app).unit() as db:
        for _ in range(times):
            log.record(
                db,
                username_key=log.username_key(username),
                account_id=None,
                method=Method.CARD,
                outcome=Outcome.FAILURE,
                reason=Reason.BAD_PASSWORD,
                address=address,
            )


def test_the_username_is_kept_only_as_a_keyed_hash(app: Flask) -> None:
    log = AttemptLog(container(app).key_provider)
    _fail(app, log, "Hunter2-Typed-As-Username", "198.51.100.7", 1)
    with container(app).sessions() as db:
        row = db.scalars(select(LoginAttempt)).one()
    assert b"hunter2" not in row.username_key.lower()
    assert row.username_key == log.username_key("  hunter2-typed-as-username ")
    assert len(row.username_key) == 32


def test_five_failures_throttle_that_username_and_that_address_only(app: Flask) -> None:
    log = AttemptLog(container(app).key_provider)
    _fail(app, log, "target", "203.0.113.5", MAX_FAILURES - 1)
    with container(app).sessions() as db:
        assert not log.throttled(db, log.username_key("target"), "192.0.2.1")
    _fail(app, log, "target", "203.0.113.6", 1)
    with container(app).sessions() as db:
        assert log.throttled(db, log.username_key("target"), "192.0.2.1")  # per account
        assert not log.throttled(db, log.username_key("bystander"), "192.0.2.1")  # not global
        assert not log.throttled(db, log.username_key("bystander"), "203.0.113.5")


def test_a_hall_sized_number_of_failures_from_one_address_throttle_it_for_any_username(
    app: Flask,
) -> None:
    log = AttemptLog(container(app).key_provider)
    for index in range(MAX_FAILURES_PER_ADDRESS - 1):
        _fail(app, log, f"sprayed-{index}", "203.0.113.66", 1)
    with container(app).sessions() as db:
        assert not log.throttled(db, log.username_key("anyone"), "203.0.113.66")
    _fail(app, log, "sprayed-last", "203.0.113.66", 1)
    with container(app).sessions() as db:
        assert log.throttled(db, log.username_key("anyone"), "203.0.113.66")
        assert not log.throttled(db, log.username_key("anyone"), "203.0.113.67")


def test_failures_that_do_not_count_for_the_account_throttle_only_the_address(
    app: Flask,
) -> None:
    log = AttemptLog(container(app).key_provider)
    with container(app).unit() as db:
        for index in range(MAX_FAILURES * 3):
            log.record(
                db,
                username_key=log.username_key("holder"),
                account_id=None,
                method=Method.CARD,
                outcome=Outcome.FAILURE,
                reason=Reason.BAD_SIGNATURE,
                address=f"203.0.113.{index}",
                counts_for_account=False,
            )
    with container(app).sessions() as db:
        assert not log.throttled(db, log.username_key("holder"), "192.0.2.1")


def test_failures_older_than_the_window_no_longer_count(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services.auth import login_attempts

    log = AttemptLog(container(app).key_provider)
    past = utcnow() - timedelta(seconds=61)  # login_attempts is append-only: record them then
    with monkeypatch.context() as earlier:
        earlier.setattr(login_attempts, "utcnow", lambda: past)
        _fail(app, log, "patient", "203.0.113.9", MAX_FAILURES)
    with container(app).sessions() as db:
        assert not log.throttled(db, log.username_key("patient"), "203.0.113.9")


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_login_attempt_log_is_append_only(app: Flask, change: str) -> None:
    log = AttemptLog(container(app).key_provider)
    _fail(app, log, "kept", "203.0.113.10", 1)
    statement = (
        update(LoginAttempt).values(reason="ok") if change == "update" else delete(LoginAttempt)
    )
    with pytest.raises(DBAPIError, match="append-only"), container(app).unit() as db:
        db.execute(statement)
    with container(app).sessions() as db:
        assert db.scalars(select(LoginAttempt.reason)).all() == [Reason.BAD_PASSWORD.value]


def test_successes_do_not_count_towards_the_throttle(app: Flask) -> None:
    log = AttemptLog(container(app).key_provider)
    with container(app).unit() as db:
        for _ in range(MAX_FAILURES + 2):
            log.record(
                db,
                username_key=log.username_key("busy"),
                account_id=None,
                method=Method.CARD,
                outcome=Outcome.SUCCESS,
                reason=Reason.OK,
                address="203.0.113.10",
            )
    with container(app).sessions() as db:
        assert not log.throttled(db, log.username_key("busy"), "203.0.113.10")
