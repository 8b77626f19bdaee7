"""100 simultaneous own-report requests of one account, each its own committed transaction on a
real database (both backends): exactly two are free, the other 98 are asked to pay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.container import container
from app.migrate import upgrade
from app.models import Order, QueryLogEntry, ReportAllowance
from app.services.querylog.verify import verify_log
from crypto.keys import KeyProvider, SigningKey
from tests.clocks import MovableClock
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.races import race
from tests.services.report_helpers import Person, citizen_id, loan
from tests.web.self_helpers import client_for, subject_account

RACERS = 100
TODAY = date(2026, 11, 21)


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_hundred_simultaneous_requests_get_exactly_two_free_reports(
    scratch_database: ScratchDatabase,
    key_provider: KeyProvider,
    tmp_path: Path,
    clock: MovableClock,
) -> None:
    clock.move_to_day(TODAY)
    upgrade(scratch_database.url)
    app = make_app(
        make_settings(scratch_database.url, tmp_path), key_provider=key_provider, clock=clock
    )
    account, _ = subject_account(
        app, Person(citizen_id(5), "陈静", (loan(date(2020, 2, 2)),)), today=TODAY
    )
    client, headers = client_for(app, account)
    cookie = client.get_cookie("__Host-cg_session")
    assert cookie is not None

    def prepare(_: int) -> Callable[[], int]:
        mine = app.test_client()
        mine.set_cookie("__Host-cg_session", cookie.value)
        return lambda: mine.post("/api/v1/self/reports", headers=headers).status_code

    statuses = race(RACERS, prepare)
    assert Counter(statuses) == {200: 2, 402: RACERS - 2}
    with container(app).sessions() as db:
        assert db.scalars(select(ReportAllowance.used)).all() == [2]
        # the 98 refused requests share one open fee order: asking again never makes another
        assert db.scalar(select(func.count()).select_from(Order)) == 1
        logged = Counter(
            db.execute(
                select(QueryLogEntry.decision, QueryLogEntry.reason).where(
                    QueryLogEntry.action == "self:report:read"
                )
            ).all()
        )
    assert logged == {
        ("allowed", "subject_own_data"): 2,
        ("denied", "payment_required"): RACERS - 2,
    }
    with container(app).engine.connect() as connection:  # one chain, whichever path appended
        verified = verify_log(connection, key_provider.public_key_der(SigningKey.LOG_CHECKPOINT))
    assert verified.problem is None
    assert verified.entries == RACERS
    container(app).engine.dispose()
