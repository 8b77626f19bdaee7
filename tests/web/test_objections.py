"""Objections end to end on both backends: a subject objects to a record of theirs, the record
is under objection at once in every answer, its provider sees it, a registrar answers it
(corrected through intake, deleted, or upheld with a reason; reconsideration and court as
stages); every bad input refused, logged, nothing changed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import Objection, QueryLogEntry, Record
from tests.clocks import MovableClock
from tests.web.intake_helpers import (
    TODAY,
    Provider,
    jsonl,
    judgment,
    penalty_row,
    register_provider,
    submit,
)
from tests.web.rights_helpers import Holder, holder_of, registrar

OBJECTIONS = "/api/v1/self/objections"
DESK = "/api/v1/registry/objections"


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def court(app: Flask) -> Provider:
    return register_provider(app)


@pytest.fixture
def holder(app: Flask, court: Provider) -> Holder:
    return holder_of(app, court, 401, [judgment(court, "C-1", 401), penalty_row(court, "C-2", 401)])


def _entries(app: Flask, action: str) -> list[tuple[str, str]]:
    with container(app).sessions() as db:
        rows = db.execute(
            select(QueryLogEntry.decision, QueryLogEntry.reason)
            .where(QueryLogEntry.action == action)
            .order_by(QueryLogEntry.seq)
        ).all()
    return [(decision, reason) for decision, reason in rows]


def _count(app: Flask) -> int:
    with container(app).sessions() as db:
        return int(db.scalar(select(func.count()).select_from(Objection)) or 0)


def test_an_objection_marks_the_record_at_once_and_a_correction_answers_it(
    app: Flask, court: Provider, holder: Holder
) -> None:
    judged = holder.record("D.civil_judgment")
    assert "objection" not in judged
    filed = holder.object_to(judged["id"])
    assert filed.status_code == 201, filed.get_json()
    objection = filed.get_json()["objection"]
    due = (TODAY + timedelta(days=20)).isoformat()  # 20 calendar days (rights.toml)
    assert (objection["under_objection"], objection["due_on"], objection["stage"]) == (
        True,
        due,
        "objection",
    )
    report = holder.report()
    mark = next(r for r in report["sections"]["special"] if r["id"] == judged["id"])["objection"]
    assert (mark["under_objection"], mark["due_on"], mark["overdue"]) == (True, due, False)
    assert mark.get("text") is None  # what the subject wrote is not in reports
    assert [o["record_id"] for o in report["sections"]["objections"]] == [judged["id"]]
    # filing is logged, but it is not a look at the report: not among the query records
    assert {r["action"] for r in report["sections"]["query_records"]} == {"self:report:read"}
    # the provider sees it, with what the subject says is wrong
    seen = app.test_client().get(
        "/api/v1/provider/objections", headers={"Authorization": f"Bearer {court.token}"}
    )
    assert seen.status_code == 200
    (item,) = seen.get_json()["objections"]
    assert (item["provider_record_id"], item["text"], item["version"]) == (
        "C-1",
        "案件已履行完毕。",
        1,
    )
    # a registrar cannot call it corrected before the provider corrects it
    desk, headers = registrar(app)
    resolve = f"{DESK}/{objection['id']}/resolve"
    early = desk.post(resolve, json={"outcome": "corrected"}, headers=headers)
    assert (early.status_code, early.get_json()["error"]) == (409, "not_corrected")
    fields = {**judgment(court, "x", 401)["fields"], "performance": "performed"}
    corrected = submit(
        app.test_client(),
        court,
        jsonl([judgment(court, "C-1", 401, op="correct", reason="data_error", fields=fields)]),
    )
    assert corrected.get_json()["counts"]["corrected"] == 1
    new = holder.record("D.civil_judgment")
    assert new["id"] != judged["id"]
    assert new["fields"]["performance"] == "performed"
    assert new["objection"]["under_objection"] is True  # the mark follows the record
    done = desk.post(resolve, json={"outcome": "corrected"}, headers=headers)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["objection"]["corrected_record_id"] == new["id"]
    shown = holder.record("D.civil_judgment")["objection"]
    assert (shown["under_objection"], shown["outcome"], shown["resolved_on"]) == (
        False,
        "corrected",
        TODAY.isoformat(),
    )
    (own,) = holder.client.get(OBJECTIONS).get_json()["objections"]
    assert (own["outcome"], own["text"]) == ("corrected", "案件已履行完毕。")
    again = desk.post(resolve, json={"outcome": "upheld", "reason": "x"}, headers=headers)
    assert (again.status_code, again.get_json()["error"]) == (409, "not_open")
    assert _entries(app, "self:objection:create") == [("allowed", "objection_filed")]
    assert _entries(app, "registry:objection:resolve") == [
        ("denied", "not_corrected"),
        ("allowed", "objection_corrected"),
        ("denied", "not_open"),
    ]
    assert _entries(app, "provider:objection:read") == [("allowed", "provider_furnishes_records")]


def test_bad_objections_are_refused_logged_and_change_nothing(
    app: Flask, court: Provider, holder: Holder
) -> None:
    other = holder_of(app, court, 402, [judgment(court, "C-9", 402)])
    theirs = other.record("D.civil_judgment")["id"]
    mine = holder.record("D.civil_judgment")["id"]
    assert holder.object_to(theirs).status_code == 404  # someone else's record: not found
    long = holder.object_to(mine, "字" * 1001)
    assert (long.status_code, long.get_json()["error"]) == (400, "bad_request")
    assert "1000" in long.get_json()["message"]
    blank = holder.object_to(mine, "   ")
    assert blank.status_code == 400
    assert _count(app) == 0
    assert "objection" not in holder.record("D.civil_judgment")
    assert holder.object_to(mine).status_code == 201
    second = holder.object_to(mine, "另一个理由")
    assert (second.status_code, second.get_json()["error"]) == (409, "objection_open")
    assert _count(app) == 1
    assert _entries(app, "self:objection:create") == [
        ("denied", "no_such_record"),
        ("denied", "bad_text"),
        ("denied", "bad_text"),
        ("allowed", "objection_filed"),
        ("denied", "objection_open"),
    ]


def test_upheld_with_a_reason_then_reconsideration_and_court_are_recorded(
    app: Flask, holder: Holder, clock: MovableClock
) -> None:
    record_id = holder.record("D.penalty_general")["id"]
    objection = holder.object_to(record_id).get_json()["objection"]
    # the registrar who is the subject never answers it
    own_desk, own_headers = registrar(app, subject_id=holder.subject_id)
    mine = own_desk.post(
        f"{DESK}/{objection['id']}/resolve",
        json={"outcome": "upheld", "reason": "核实无误"},
        headers=own_headers,
    )
    assert (mine.status_code, mine.get_json()["error"]) == (403, "own_objection")
    desk, headers = registrar(app)
    listed = desk.get(DESK).get_json()["objections"]
    assert [(o["id"], o["text"]) for o in listed] == [(objection["id"], "案件已履行完毕。")]
    no_reason = desk.post(
        f"{DESK}/{objection['id']}/resolve", json={"outcome": "upheld"}, headers=headers
    )
    assert no_reason.status_code == 400
    clock.move_to_day(TODAY + timedelta(days=21))
    overdue = holder.record("D.penalty_general")["objection"]
    assert overdue["overdue"] is True
    upheld = desk.post(
        f"{DESK}/{objection['id']}/resolve",
        json={"outcome": "upheld", "reason": "经核实，处罚决定有效。"},
        headers=headers,
    )
    assert upheld.status_code == 200
    (own,) = holder.client.get(OBJECTIONS).get_json()["objections"]
    assert (own["outcome"], own["reason"], own["under_objection"]) == (
        "upheld",
        "经核实，处罚决定有效。",
        False,
    )
    assert "objection" in holder.record("D.penalty_general")  # still shown, outcome upheld
    step = desk.post(
        f"{DESK}/{objection['id']}/escalate", json={"stage": "reconsideration"}, headers=headers
    )
    assert step.status_code == 200
    mark = holder.record("D.penalty_general")["objection"]
    later = (TODAY + timedelta(days=41)).isoformat()
    assert (mark["stage"], mark["under_objection"], mark["due_on"]) == (
        "reconsideration",
        True,
        later,
    )
    desk.post(
        f"{DESK}/{objection['id']}/resolve",
        json={"outcome": "upheld", "reason": "复核维持。"},
        headers=headers,
    )
    court_stage = desk.post(
        f"{DESK}/{objection['id']}/escalate", json={"stage": "court"}, headers=headers
    )
    assert court_stage.get_json()["objection"]["due_on"] is None
    back = desk.post(
        f"{DESK}/{objection['id']}/escalate", json={"stage": "reconsideration"}, headers=headers
    )
    assert back.status_code == 409


def test_deleted_withdraws_the_record_everywhere(app: Flask, holder: Holder) -> None:
    record_id = holder.record("D.penalty_general")["id"]
    objection = holder.object_to(record_id).get_json()["objection"]
    searcher = holder.client.post(
        "/api/v1/public/lists/search",
        json={"id_number": _id(holder)},
        headers=holder.headers,
    ).get_json()
    (listed,) = [r for e in searcher["results"] for r in e["records"] if r["id"] == record_id]
    assert listed["objection"]["under_objection"] is True  # public lists show the mark too
    desk, headers = registrar(app)
    done = desk.post(
        f"{DESK}/{objection['id']}/resolve",
        json={"outcome": "deleted", "reason": "处罚决定已撤销。"},
        headers=headers,
    )
    assert done.status_code == 200
    assert all(r["type"] != "D.penalty_general" for r in holder.records())
    with container(app).sessions() as db:
        status = db.scalar(select(Record.status).where(Record.id == uuid.UUID(record_id)))
    assert status == "withdrawn"
    after = holder.client.post(
        "/api/v1/public/lists/search", json={"id_number": _id(holder)}, headers=holder.headers
    ).get_json()
    assert all(r["id"] != record_id for e in after["results"] for r in e["records"])


def _id(holder: Holder) -> str:
    from tests.services.report_helpers import citizen_id

    return citizen_id(holder.sequence)


def test_weak_logins_and_staff_cannot_object(app: Flask, holder: Holder) -> None:
    desk, headers = registrar(app)
    record_id = holder.record("D.civil_judgment")["id"]
    staff = desk.post(OBJECTIONS, json={"record_id": record_id, "text": "x"}, headers=headers)
    assert staff.status_code == 403
    anonymous = app.test_client().post(OBJECTIONS, json={"record_id": record_id, "text": "x"})
    assert anonymous.status_code == 401
    subject_desk = holder.client.get(DESK)
    assert subject_desk.status_code == 403
    assert _count(app) == 0


def test_an_upheld_objection_cannot_reopen_over_a_newer_open_one(
    app: Flask, holder: Holder
) -> None:
    record_id = holder.record("D.civil_judgment")["id"]
    first = holder.object_to(record_id).get_json()["objection"]
    desk, headers = registrar(app)
    desk.post(
        f"{DESK}/{first['id']}/resolve",
        json={"outcome": "upheld", "reason": "核实无误。"},
        headers=headers,
    )
    assert holder.object_to(record_id, "新的事实").status_code == 201  # a new objection
    clash = desk.post(
        f"{DESK}/{first['id']}/escalate", json={"stage": "reconsideration"}, headers=headers
    )
    assert (clash.status_code, clash.get_json()["error"]) == (409, "objection_open")
    (old,) = [
        o for o in holder.client.get(OBJECTIONS).get_json()["objections"] if o["id"] == first["id"]
    ]
    assert (old["stage"], old["outcome"], old["reason"]) == ("objection", "upheld", "核实无误。")


def test_when_the_log_cannot_be_written_nothing_is_filed_or_answered(
    app: Flask, holder: Holder
) -> None:
    from tests.web.self_helpers import refuse_log_entries

    record_id = holder.record("D.civil_judgment")["id"]
    objection = holder.object_to(record_id).get_json()["objection"]
    other = holder.record("D.penalty_general")["id"]
    desk, headers = registrar(app)
    refuse_log_entries(app)
    filed = holder.object_to(other, "不对")
    assert (filed.status_code, filed.get_json()["error"]) == (503, "service_unavailable")
    stated = holder.state(other, "声明")
    assert stated.status_code == 503
    answered = desk.post(
        f"{DESK}/{objection['id']}/resolve",
        json={"outcome": "deleted", "reason": "撤销"},
        headers=headers,
    )
    assert answered.status_code == 503
    listed = holder.client.get(OBJECTIONS)
    assert listed.status_code == 503
    assert "案件已履行完毕。" not in listed.get_data(as_text=True)
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(Objection)) == 1
        assert db.scalar(select(Objection.status)) == "open"
        assert db.scalar(select(Record.status).where(Record.id == uuid.UUID(record_id))) == (
            "current"
        )
