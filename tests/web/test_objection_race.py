"""Eight simultaneous objections (or statements) on the same record, each its own committed
transaction on a real database (both backends): exactly one is made, seven are refused
(`objection_open`, `statement_exists`), and the log holds one entry per attempt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import Account, Objection, QueryLogEntry, Statement
from app.services.auth.sessions import MAX_SESSIONS
from tests.clocks import MovableClock
from tests.races import race
from tests.web.intake_helpers import TODAY, judgment, register_provider
from tests.web.rights_helpers import holder_of
from tests.web.self_helpers import client_for

#: One session per racer, all of one account: at most as many as an account may hold live.
RACERS = MAX_SESSIONS


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.mark.parametrize(
    ("path", "error", "action", "table"),
    [
        ("/api/v1/self/objections", "objection_open", "self:objection:create", Objection),
        ("/api/v1/self/statements", "statement_exists", "self:statement:create", Statement),
    ],
    ids=["objection", "statement"],
)
def test_simultaneous_objections_or_statements_on_one_record_make_exactly_one(
    app: Flask, path: str, error: str, action: str, table: type[Objection] | type[Statement]
) -> None:
    court = register_provider(app)
    holder = holder_of(app, court, 451, [judgment(court, "R-1", 451)])
    record_id = holder.record("D.civil_judgment")["id"]
    with container(app).sessions() as db:
        account = db.scalars(select(Account).where(Account.subject_id == holder.subject_id)).one()

    def prepare(n: int) -> Callable[[], tuple[int, str | None]]:
        client, headers = client_for(app, account)

        def file() -> tuple[int, str | None]:
            response = client.post(
                path,
                json={"record_id": record_id, "text": f"理由 {n}"},
                headers=headers,
            )
            return response.status_code, response.get_json().get("error")

        return file

    outcomes = Counter(race(RACERS, prepare))
    assert outcomes == {(201, None): 1, (409, error): RACERS - 1}
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(table)) == 1
        decisions = Counter(
            db.scalars(select(QueryLogEntry.decision).where(QueryLogEntry.action == action))
        )
    assert decisions == {"allowed": 1, "denied": RACERS - 1}
