"""Grades A–E end to end on both backends: intake grades the subject in the same unit, an A or
an E waits for a second registrar, the subject sees only the grade that counts with every
factor that moved it, an approval proposes the list change to the confidentiality review, an
objection answered by deleting the record grades again; every bad input refused, logged,
nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.container import container
from app.models import GradeApproval, ListChange, QueryLogEntry, SubjectGrade
from tests.clocks import MovableClock
from tests.services.report_helpers import citizen_id
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

OWN = "/api/v1/self/grade"
APPROVALS = "/api/v1/registry/grades/approvals"
RECOMPUTE = "/api/v1/registry/grades/recompute"


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def court(app: Flask) -> Provider:
    return register_provider(app)


def debtor_row(court: Provider, record_id: str, sequence: int) -> dict[str, Any]:
    return {
        "op": "add",
        "provider": court.code,
        "record_id": record_id,
        "type": "D.dishonest_debtor",
        "subject": {"id_number": citizen_id(sequence), "name": f"测试{sequence}"},
        "occurred_on": "2026-10-01",
        "fields": {
            "court": "重庆市渝中区人民法院",
            "case_number": "（2026）渝0103执12号",
            "basis_document": "（2026）渝0103民初88号",
            "dishonesty_kind": "evading_with_means",
            "performance": "not_performed",
        },
    }


def tax_row(court: Provider, record_id: str, sequence: int, status: str) -> dict[str, Any]:
    return {
        "op": "add",
        "provider": court.code,
        "record_id": record_id,
        "type": "C.tax_payment",
        "subject": {"id_number": citizen_id(sequence), "name": f"测试{sequence}"},
        "occurred_on": "2026-06-30",
        "fields": {"tax_kind": "individual_income", "tax_period": "2026-06", "status": status},
    }


def insurance_row(court: Provider, record_id: str, sequence: int) -> dict[str, Any]:
    return {
        "op": "add",
        "provider": court.code,
        "record_id": record_id,
        "type": "C.social_insurance",
        "subject": {"id_number": citizen_id(sequence), "name": f"测试{sequence}"},
        "occurred_on": "2026-06-30",
        "fields": {
            "insurance_kind": "pension",
            "paid_through": "employer",
            "months_contributed": 60,
            "last_paid_month": "2026-11",
            "status": "contributing",
        },
    }


def own_grade(holder: Holder) -> dict[str, Any]:
    response = holder.client.get(OWN, headers=holder.headers)
    assert response.status_code == 200, response.get_json()
    grade: dict[str, Any] = response.get_json()["grade"]
    return grade


def pending(app: Flask) -> list[GradeApproval]:
    with container(app).sessions() as db:
        return list(db.scalars(select(GradeApproval).where(GradeApproval.status == "pending")))


def entries(app: Flask, action: str) -> list[tuple[str, str]]:
    with container(app).sessions() as db:
        rows = db.execute(
            select(QueryLogEntry.decision, QueryLogEntry.reason)
            .where(QueryLogEntry.action == action)
            .order_by(QueryLogEntry.seq)
        ).all()
    return [(decision, reason) for decision, reason in rows]


def decide(client: FlaskClient, headers: dict[str, str], approval: Any, choice: str) -> Any:
    return client.post(f"{APPROVALS}/{approval}", json={"decision": choice}, headers=headers)


def test_intake_grades_an_e_that_counts_only_after_a_second_approval(
    app: Flask, court: Provider
) -> None:
    holder = holder_of(app, court, 501, [debtor_row(court, "E-1", 501)])
    shown = own_grade(holder)
    assert (shown["status"], shown["grade"], shown["awaiting_approval"]) == ("pending", None, True)
    assert shown["explanation"] is None  # the proposal is not shown as theirs
    (waiting,) = pending(app)
    assert (waiting.grade, waiting.score, waiting.proposed_by) == ("E", 69, None)

    client, headers = registrar(app)
    listed = client.get(APPROVALS, headers=headers).get_json()["approvals"]
    assert [(a["grade"], a["own_proposal"]) for a in listed] == [("E", False)]
    answer = decide(client, headers, waiting.id, "approve")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["approval"]["status"] == "approved"

    shown = own_grade(holder)
    assert (shown["status"], shown["grade"], shown["score"]) == ("counted", "E", 69)
    explanation = shown["explanation"]
    assert explanation["base"] + sum(f["points"] for f in explanation["factors"]) == 69
    assert [f["factor"] for f in explanation["factors"]] == ["dishonest-debtor"]
    record = holder.record("D.dishonest_debtor")
    assert explanation["factors"][0]["records"] == [record["id"]]
    with container(app).sessions() as db:  # the list change waits for the officers' review
        changes = db.scalars(
            select(ListChange).where(ListChange.subject_id == holder.subject_id)
        ).all()
    assert [(c.list, c.change, c.status) for c in changes] == [("black", "add", "pending")]
    assert entries(app, "registry:grade:approve") == [("allowed", "grade_approved")]
    again = decide(client, headers, waiting.id, "approve")
    assert (again.status_code, again.get_json()["error"]) == (409, "not_pending")


def test_a_registrar_never_approves_their_own_proposal_nor_their_own_grade(
    app: Flask, court: Provider
) -> None:
    rows = [tax_row(court, "T-1", 502, "paid_on_time"), insurance_row(court, "S-1", 502)]
    holder = holder_of(app, court, 502, rows)
    (first,) = pending(app)  # intake proposed the A (98)
    assert (first.grade, first.score) == ("A", 98)
    proposer, proposer_headers = registrar(app)
    recomputed = proposer.post(
        RECOMPUTE, json={"subject_ref": str(holder.subject_id)}, headers=proposer_headers
    )
    assert recomputed.status_code == 200, recomputed.get_json()
    approval_id = recomputed.get_json()["approval_id"]
    assert approval_id not in (None, str(first.id))  # the recomputing registrar proposes it
    refused = decide(proposer, proposer_headers, approval_id, "approve")
    assert (refused.status_code, refused.get_json()["error"]) == (403, "own_proposal")
    themselves, own_headers = registrar(app, subject_id=holder.subject_id)
    refused = decide(themselves, own_headers, approval_id, "approve")
    assert (refused.status_code, refused.get_json()["error"]) == (403, "own_grade")
    assert [a.id for a in pending(app)] == [uuid.UUID(approval_id)]  # nothing changed
    assert own_grade(holder)["status"] == "pending"
    assert entries(app, "registry:grade:approve") == [
        ("denied", "own_proposal"),
        ("denied", "own_grade"),
    ]
    second, second_headers = registrar(app)
    assert decide(second, second_headers, approval_id, "approve").status_code == 200
    shown = own_grade(holder)
    assert (shown["grade"], shown["score"]) == ("A", 98)


def test_bad_decisions_are_refused_and_logged(app: Flask, court: Provider) -> None:
    holder_of(app, court, 503, [debtor_row(court, "E-3", 503)])
    (waiting,) = pending(app)
    client, headers = registrar(app)
    assert decide(client, headers, uuid.uuid4(), "approve").status_code == 404
    assert decide(client, headers, "not-an-id", "approve").status_code == 404
    assert decide(client, headers, waiting.id, "maybe").status_code == 400
    bad = client.post(RECOMPUTE, json={"subject_ref": str(uuid.uuid4())}, headers=headers)
    assert bad.status_code == 404
    assert entries(app, "registry:grade:approve") == [
        ("denied", "no_such_approval"),
        ("denied", "no_such_approval"),
        ("denied", "bad_request"),
    ]
    assert entries(app, "registry:grade:recompute") == [("denied", "no_such_subject")]
    assert [a.id for a in pending(app)] == [waiting.id]


def test_refusing_keeps_the_previous_grade(app: Flask, court: Provider) -> None:
    holder = holder_of(app, court, 504, [tax_row(court, "T-4", 504, "paid_on_time")])
    assert own_grade(holder)["grade"] == "B"  # 97: counts at once
    submit(app.test_client(), court, jsonl([insurance_row(court, "S-4", 504)]))
    (waiting,) = pending(app)  # 98: an A waits
    shown = own_grade(holder)
    assert (shown["grade"], shown["score"], shown["awaiting_approval"]) == ("B", 97, True)
    client, headers = registrar(app)
    assert decide(client, headers, waiting.id, "refuse").status_code == 200
    shown = own_grade(holder)
    assert (shown["grade"], shown["awaiting_approval"]) == ("B", False)


def test_an_objection_answered_by_deleting_the_record_grades_again(
    app: Flask, court: Provider
) -> None:
    holder = holder_of(app, court, 505, [debtor_row(court, "E-5", 505)])
    other = holder_of(app, court, 506, [tax_row(court, "T-6", 506, "paid_late")])
    record = holder.record("D.dishonest_debtor")
    # someone else's record, named from a grade's explanation, is not theirs to object to
    assert other.object_to(record["id"]).status_code == 404
    filed = holder.object_to(record["id"])
    assert filed.status_code == 201, filed.get_json()
    client, headers = registrar(app)
    objection_id = filed.get_json()["objection"]["id"]
    answered = client.post(
        f"/api/v1/registry/objections/{objection_id}/resolve",
        json={"outcome": "deleted"},
        headers=headers,
    )
    assert answered.status_code == 200, answered.get_json()
    shown = own_grade(holder)
    assert (shown["status"], shown["grade"], shown["score"]) == ("counted", "B", 96)
    assert pending(app) == []  # the E proposal was superseded
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(SubjectGrade)) == 2


def test_a_correction_through_intake_moves_the_grade(app: Flask, court: Provider) -> None:
    holder = holder_of(app, court, 507, [tax_row(court, "T-7", 507, "paid_late")])
    assert (own_grade(holder)["score"], own_grade(holder)["grade"]) == (95, "B")
    corrected = {**tax_row(court, "T-7", 507, "paid_on_time"), "op": "correct"}
    corrected["reason"] = "data_error"
    response = submit(app.test_client(), court, jsonl([corrected]))
    assert response.status_code == 201, response.get_json()
    shown = own_grade(holder)
    assert (shown["score"], [f["factor"] for f in shown["explanation"]["factors"]]) == (
        97,
        ["tax-paid-on-time"],
    )


def test_the_pages_show_the_grade_and_the_approvals(app: Flask, court: Provider) -> None:
    holder = holder_of(app, court, 508, [debtor_row(court, "E-8", 508)])
    page = holder.client.get("/grade")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="grade-pending"' in text
    assert 'href="/grade"' in text
    client, headers = registrar(app)
    desk = client.get("/registry/grades").get_data(as_text=True)
    (waiting,) = pending(app)
    assert f'id="approval-{waiting.id}"' in desk
    posted = client.post(
        f"/registry/grades/{waiting.id}",
        data={"decision": "approve", "csrf_token": headers["X-CSRF-Token"]},
    )
    assert posted.status_code == 303
    text = holder.client.get("/grade").get_data(as_text=True)
    assert 'id="grade-counted"' in text
    assert 'id="factor-dishonest-debtor"' in text
    assert "失信被执行人" in text
    assert "-27" in text


def criminal_row(court: Provider, record_id: str, sequence: int) -> dict[str, Any]:
    return {
        "op": "add",
        "provider": court.code,
        "record_id": record_id,
        "type": "D.criminal_judgment",
        "subject": {"id_number": citizen_id(sequence), "name": f"测试{sequence}"},
        "occurred_on": "2026-03-01",
        "notice": {"notified_on": "2026-03-10", "channel": "registered_mail"},
        "fields": {
            "court": "重庆市渝中区人民法院",
            "case_number": "（2026）渝0103刑初5号",
            "offence": "contract_fraud",
            "sentence": "suspended",
        },
    }


def test_an_approved_e_without_a_listed_record_is_proposed_for_the_blacklist(
    app: Flask, court: Provider
) -> None:
    rows = [
        criminal_row(court, "K-9", 509),
        judgment(court, "J-9", 509),
        judgment(court, "J-10", 509),
        penalty_row(court, "P-9", 509),
    ]
    holder = holder_of(app, court, 509, rows)
    (waiting,) = pending(app)
    assert (waiting.grade, waiting.score) == ("E", 66)  # 96 - 20 - 6 - 4
    client, headers = registrar(app)
    assert decide(client, headers, waiting.id, "approve").status_code == 200
    with container(app).sessions() as db:
        changes = db.scalars(
            select(ListChange).where(ListChange.subject_id == holder.subject_id)
        ).all()
    assert [(c.list, c.rule_id, c.status, c.basis) for c in changes] == [
        ("black", "black-grade", "pending", "")
    ]


def test_the_own_report_carries_the_grade_that_counts(app: Flask, court: Provider) -> None:
    holder = holder_of(app, court, 510, [debtor_row(court, "E-10", 510)])
    assert holder.report()["grade"] is None  # an E waiting for its approval does not count
    client, headers = registrar(app)
    (waiting,) = pending(app)
    assert decide(client, headers, waiting.id, "approve").status_code == 200
    grade = holder.report()["grade"]
    assert (grade["grade"], grade["score"], grade["title_zh"]) == ("E", 69, "严重失信")
    assert grade["explanation"] == own_grade(holder)["explanation"]
    page = holder.client.post("/report", data={"csrf_token": holder.headers["X-CSRF-Token"]})
    assert page.status_code == 200
    assert "E 严重失信 · 69/100" in page.get_data(as_text=True)
