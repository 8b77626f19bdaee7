"""A factor change racing an in-flight login: the login's new session is ended too."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import Account
from app.services.auth.sessions import SessionService, lock_for_login
from tests.conftest import BACKENDS, ScratchDatabase

METHODS = frozenset({"password", "card"})


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_ending_all_sessions_waits_for_a_login_in_flight_and_ends_its_session(
    scratch_database: ScratchDatabase,
) -> None:
    upgrade(scratch_database.url)
    engine = make_engine(scratch_database.url)
    sessions = make_session_factory(engine)
    with sessions() as setup:
        setup.add(Account(username="racer", kind="subject"))
        setup.commit()

    login = sessions()
    login.connection(execution_options={WRITE_INTENT: True})
    account = lock_for_login(login, "racer")  # the login has read the account and its factors
    assert account is not None
    SessionService().start(login, account, METHODS)  # ...and is about to commit its session

    impatient = make_engine(scratch_database.url)
    if scratch_database.backend == "sqlite":
        # Give up on the write lock after 300 ms instead of the service's 10 s.
        event.listen(
            impatient, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout = 300")
        )
    change = make_session_factory(impatient)()
    with pytest.raises(OperationalError):  # noqa: PT012 - SQLite blocks at BEGIN, PostgreSQL at the lock
        # The factor change cannot slip in between: it has to wait for the login.
        change.connection(execution_options={WRITE_INTENT: True})
        if scratch_database.backend == "postgresql":
            change.execute(text("SET LOCAL lock_timeout = '300ms'"))
        SessionService().end_all_for_account(change, account.id, "factor_changed")
    change.rollback()
    change.close()
    change = make_session_factory(impatient)()

    login.commit()
    change.connection(execution_options={WRITE_INTENT: True})
    assert SessionService().end_all_for_account(change, account.id, "factor_changed") == 1
    change.commit()
    login.close()
    change.close()
    engine.dispose()
    impatient.dispose()
