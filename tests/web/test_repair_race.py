"""Simultaneous repair applications on the same record, each its own committed transaction on
a real database (both backends): exactly one is made with its evidence, the others are
refused (`repair_open`), and the log holds one entry per attempt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import Account
from app.services.auth.sessions import MAX_SESSIONS
from tests.clocks import MovableClock
from tests.races import race
from tests.web.intake_helpers import TODAY, penalty_row, register_provider
from tests.web.repair_helpers import PDF, REPAIRS, multipart, reasons, stored
from tests.web.rights_helpers import holder_of
from tests.web.self_helpers import client_for

RACERS = MAX_SESSIONS


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def test_simultaneous_applications_on_one_record_make_exactly_one(app: Flask) -> None:
    court = register_provider(app, kind="court")
    holder = holder_of(app, court, 561, [penalty_row(court, "Q-1", 561)])
    record_id = holder.record("D.penalty_general")["id"]
    with container(app).sessions() as db:
        account = db.scalars(select(Account).where(Account.subject_id == holder.subject_id)).one()

    def prepare(n: int) -> Callable[[], tuple[int, str | None]]:
        client, headers = client_for(app, account)
        files = [(PDF, f"receipt-{n}.pdf", "application/pdf")]
        boundary, body = multipart(record_id, f"已整改 {n}", files)

        def send() -> tuple[int, str | None]:
            response = client.post(
                REPAIRS,
                data=body,
                headers=headers,
                content_type=f"multipart/form-data; boundary={boundary}",
            )
            return response.status_code, response.get_json().get("error")

        return send

    outcomes = Counter(race(RACERS, prepare))
    assert outcomes == {(201, None): 1, (409, "repair_open"): RACERS - 1}
    assert stored(app) == (1, 1)
    decisions = Counter(decision for decision, _ in reasons(app, "self:repair:create"))
    assert decisions == {"allowed": 1, "denied": RACERS - 1}
