"""Overdue objections in the compliance review: an objection still open after its 20-day
answer day is listed to the officers (the flags API and page), with metadata only; on its
due day it is not yet overdue, the day after it is, and once answered it leaves the list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from tests.clocks import MovableClock
from tests.web.intake_helpers import TODAY, judgment, register_provider
from tests.web.review_helpers import officer
from tests.web.rights_helpers import holder_of, registrar

FLAGS = "/api/v1/review/flags"
DUE = TODAY + timedelta(days=20)


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def test_officers_see_objections_past_their_answer_day(app: Flask, clock: MovableClock) -> None:
    court = register_provider(app, name="渝中区法院")
    holder = holder_of(app, court, 541, [judgment(court, "O-1", 541)])
    record_id = holder.record("D.civil_judgment")["id"]
    filed = holder.object_to(record_id, "金额有误，请核实。").get_json()["objection"]
    assert filed["due_on"] == DUE.isoformat()
    wu = officer(app)

    def overdue() -> list[dict[str, object]]:
        answer = wu.client.get(FLAGS)
        assert answer.status_code == 200, answer.get_json()
        listed: list[dict[str, object]] = answer.get_json()["overdue_objections"]
        return listed

    clock.move_to_day(DUE)
    assert overdue() == []  # the due day itself is still in time
    clock.move_to_day(DUE + timedelta(days=1))
    (late,) = overdue()
    assert (late["id"], late["days_overdue"], late["due_on"]) == (filed["id"], 1, DUE.isoformat())
    assert (late["provider"], late["stage"]) == ("渝中区法院", "objection")
    assert "金额有误" not in str(late)  # metadata only, never what the subject wrote
    page = wu.client.get("/review/flags")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert filed["id"] in html
    assert "金额有误" not in html
    swept = app.test_cli_runner().invoke(args=["review", "sweep"])
    assert swept.exit_code == 0, swept.output
    assert "1 objection(s) open past their answer day" in swept.output
    desk, headers = registrar(app)
    answered = desk.post(
        f"/api/v1/registry/objections/{filed['id']}/resolve",
        json={"outcome": "upheld", "reason": "经核实，金额无误。"},
        headers=headers,
    )
    assert answered.status_code == 200, answered.get_json()
    assert overdue() == []
    assert "no-overdue-objections" in wu.client.get("/review/flags").get_data(as_text=True)
