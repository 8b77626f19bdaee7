"""The objection and statement pages and the registrar's objection desk (HTML forms over the
same use cases): what a person sees and does, CSRF on every post, refusals shown, nothing typed
put back into a page it was not meant for."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.clocks import MovableClock
from tests.web.intake_helpers import TODAY, judgment, penalty_row, register_provider
from tests.web.rights_helpers import Holder, holder_of, registrar


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> Holder:
    court = register_provider(app)
    return holder_of(app, court, 431, [judgment(court, "P-1", 431), penalty_row(court, "P-2", 431)])


def _csrf(holder: Holder) -> str:
    return holder.headers["X-CSRF-Token"]


def test_a_subject_objects_and_makes_a_statement_with_forms(app: Flask, holder: Holder) -> None:
    page = holder.client.get("/objections")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    record_id = holder.record("D.civil_judgment")["id"]
    assert f'id="record-{record_id}"' in html
    assert 'id="no-objections"' in html
    no_token = holder.client.post("/objections", data={"record_id": record_id, "text": "x"})
    assert no_token.status_code == 403  # the gate wants the session's CSRF token
    filed = holder.client.post(
        "/objections",
        data={"record_id": record_id, "text": "判决已履行。", "csrf_token": _csrf(holder)},
    )
    assert filed.status_code == 303
    assert filed.headers["Location"].endswith("/objections?done=filed")
    after = holder.client.get("/objections?done=filed").get_data(as_text=True)
    assert "异议中 Under objection" in after
    assert "判决已履行。" in after
    assert f"answer due {(TODAY.replace(day=24)).isoformat()}" in after
    again = holder.client.post(
        "/objections",
        data={"record_id": record_id, "text": "再次", "csrf_token": _csrf(holder)},
    )
    assert again.headers["Location"].endswith("refused=objection_open")
    made = holder.client.post(
        "/statements",
        data={"record_id": record_id, "text": "我已履行判决。", "csrf_token": _csrf(holder)},
    )
    assert made.headers["Location"].endswith("/statements?done=made")
    statements = holder.client.get("/statements").get_data(as_text=True)
    assert "我已履行判决。" in statements
    statement_id = re.search(r'id="statement-([0-9a-f-]{36})"', statements)
    assert statement_id is not None
    gone = holder.client.post(
        f"/statements/{statement_id.group(1)}/withdraw", data={"csrf_token": _csrf(holder)}
    )
    assert gone.headers["Location"].endswith("done=withdrawn")
    assert "已撤回 withdrawn" in holder.client.get("/statements").get_data(as_text=True)


def test_the_registrar_answers_and_escalates_at_the_desk(app: Flask, holder: Holder) -> None:
    record_id = holder.record("D.penalty_general")["id"]
    objection_id = holder.object_to(record_id, "处罚对象错误。").get_json()["objection"]["id"]
    desk, headers = registrar(app)
    html = desk.get("/registry/objections").get_data(as_text=True)
    assert "处罚对象错误。" in html
    assert f'id="objection-{objection_id}"' in html
    token = headers["X-CSRF-Token"]
    corrected = desk.post(
        f"/registry/objections/{objection_id}/resolve",
        data={"outcome": "corrected", "csrf_token": token},
    )
    assert corrected.headers["Location"].endswith("refused=not_corrected")
    shown = desk.get("/registry/objections?refused=not_corrected").get_data(as_text=True)
    assert "has not corrected the record" in shown
    upheld = desk.post(
        f"/registry/objections/{objection_id}/resolve",
        data={"outcome": "upheld", "reason": "核实无误。", "csrf_token": token},
    )
    assert upheld.headers["Location"].endswith("done=resolved")
    html = desk.get("/registry/objections").get_data(as_text=True)
    assert f'id="upheld-{objection_id}"' in html
    step = desk.post(
        f"/registry/objections/{objection_id}/escalate",
        data={"stage": "reconsideration", "csrf_token": token},
    )
    assert step.headers["Location"].endswith("done=escalated")
    assert holder.record("D.penalty_general")["objection"]["stage"] == "reconsideration"
    # a subject is refused the desk, the registrar the subject's page
    assert holder.client.get("/registry/objections").status_code == 403
    assert desk.get("/objections").status_code == 403
