"""Statements end to end on both backends: a subject attaches a statement to a record of
theirs; it is shown with the record wherever the record is shown (own report, public lists,
institution reports through the same assembly) until withdrawn; bad input refused and logged."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import QueryLogEntry, Statement
from tests.clocks import MovableClock
from tests.services.report_helpers import citizen_id
from tests.web.intake_helpers import TODAY, judgment, penalty_row, register_provider
from tests.web.rights_helpers import Holder, holder_of

STATEMENTS = "/api/v1/self/statements"
TEXT = "该处罚已缴纳罚款并整改完毕。"


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> Holder:
    court = register_provider(app)
    return holder_of(app, court, 411, [judgment(court, "S-1", 411), penalty_row(court, "S-2", 411)])


def _search(holder: Holder) -> list[dict[str, object]]:
    found = holder.client.post(
        "/api/v1/public/lists/search",
        json={"id_number": citizen_id(holder.sequence)},
        headers=holder.headers,
    ).get_json()
    return [r for entry in found["results"] for r in entry["records"]]


def test_a_statement_is_shown_with_its_record_until_withdrawn(app: Flask, holder: Holder) -> None:
    record_id = holder.record("D.penalty_general")["id"]
    made = holder.state(record_id, TEXT)
    assert made.status_code == 201, made.get_json()
    statement = made.get_json()["statement"]
    assert (statement["text"], statement["status"]) == (TEXT, "active")
    report = holder.report()
    shown = next(r for r in report["sections"]["special"] if r["id"] == record_id)
    assert shown["statement"]["text"] == TEXT
    assert [s["record_id"] for s in report["sections"]["statements"]] == [record_id]
    (listed,) = [r for r in _search(holder) if r["id"] == record_id]
    assert listed["statement"]["text"] == TEXT  # the public lists show it with the record
    other = holder.record("D.civil_judgment")
    assert "statement" not in other
    second = holder.state(record_id, "再说一次")
    assert (second.status_code, second.get_json()["error"]) == (409, "statement_exists")
    withdrawn = holder.client.post(
        f"{STATEMENTS}/{statement['id']}/withdraw", headers=holder.headers
    )
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["statement"]["status"] == "withdrawn"
    assert "statement" not in holder.record("D.penalty_general")
    assert all("statement" not in r for r in _search(holder))
    again = holder.client.post(f"{STATEMENTS}/{statement['id']}/withdraw", headers=holder.headers)
    assert again.status_code == 200
    (mine,) = holder.client.get(STATEMENTS).get_json()["statements"]
    assert (mine["status"], mine["text"]) == ("withdrawn", TEXT)
    assert holder.state(record_id, "新的声明").status_code == 201  # a new one after withdrawal


def test_bad_statements_are_refused_logged_and_change_nothing(app: Flask, holder: Holder) -> None:
    court = register_provider(app, name="另一法院")
    other = holder_of(app, court, 412, [judgment(court, "S-9", 412)])
    theirs = other.record("D.civil_judgment")["id"]
    mine = holder.record("D.civil_judgment")["id"]
    assert holder.state(theirs).status_code == 404
    over = holder.state(mine, "声" * 501)
    assert (over.status_code, over.get_json()["error"]) == (400, "bad_request")
    assert "500" in over.get_json()["message"]
    assert holder.state(mine, "含\x00控制字符").status_code == 400
    not_yours = other.state(theirs).get_json()["statement"]["id"]
    stolen = holder.client.post(f"{STATEMENTS}/{not_yours}/withdraw", headers=holder.headers)
    assert stolen.status_code == 404
    assert (
        holder.client.post(f"{STATEMENTS}/nonsense/withdraw", headers=holder.headers).status_code
        == 404
    )
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(Statement)) == 1
        assert db.scalar(select(Statement.status)) == "active"
        reasons = list(
            db.scalars(
                select(QueryLogEntry.reason)
                .where(QueryLogEntry.action.like("self:statement:%"))
                .where(QueryLogEntry.decision == "denied")
                .order_by(QueryLogEntry.seq)
            )
        )
    assert reasons == [
        "no_such_record",
        "bad_text",
        "bad_text",
        "no_such_statement",
        "no_such_statement",
    ]
