"""The throttle holds under concurrency: 20 simultaneous wrong logins, at most 5 are tried."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import LoginAttempt
from app.services.auth.login_attempts import MAX_FAILURES, AttemptLog, Method, Outcome, Reason
from crypto.keys import KeyProvider
from tests.conftest import BACKENDS, ScratchDatabase

CONCURRENT = 20


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_simultaneous_failures_never_exceed_the_limit(
    scratch_database: ScratchDatabase, key_provider: KeyProvider
) -> None:
    upgrade(scratch_database.url)
    engine = make_engine(scratch_database.url, pool_size=CONCURRENT, max_overflow=0)
    sessions = make_session_factory(engine)
    log = AttemptLog(key_provider)
    key = log.username_key("victim")
    start = threading.Barrier(CONCURRENT)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            start.wait()
            with sessions() as db:
                db.connection(execution_options={WRITE_INTENT: True})
                throttled = log.throttled(db, key, "198.51.100.20")
                # ...the factors would be checked here, inside the same transaction...
                log.record(
                    db,
                    username_key=key,
                    account_id=None,
                    method=Method.STAFF,
                    outcome=Outcome.THROTTLED if throttled else Outcome.FAILURE,
                    reason=Reason.TOO_MANY_FAILURES if throttled else Reason.BAD_PASSWORD,
                    address="198.51.100.20",
                )
                db.commit()
        except BaseException as exc:  # noqa: BLE001 - collected, asserted empty below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as db:
        counts = dict(
            db.execute(
                select(LoginAttempt.outcome, func.count()).group_by(LoginAttempt.outcome)
            ).all()
        )
    engine.dispose()
    assert counts == {"failure": MAX_FAILURES, "throttled": CONCURRENT - MAX_FAILURES}
