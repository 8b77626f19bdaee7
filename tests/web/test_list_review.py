"""Red and black lists: derived by rules, reviewed by a compliance officer before publication
(双公示 confidentiality review), shown in the public search, removed within 3 working days of
the removal decision, overdue removals flagged. SQLite and PostgreSQL; the day is fixed."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import ListPublication, QueryLogEntry
from app.services.lists.review import ListReview, Officer, ReviewRefused
from policies.calendar import default_calendar
from policies.list_rules import parse_list_rules
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.services.report_helpers import AUTHORITY_CODE, citizen_id
from tests.web.intake_helpers import TODAY, Provider, jsonl, register_provider, submit

OFFICER = frozenset({"password", "totp"})


@pytest.fixture(autouse=True)
def _today(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def _debtor(court: Provider, record_id: str, sequence: int) -> dict[str, Any]:
    return {
        "op": "add", "provider": court.code, "record_id": record_id,
        "type": "D.dishonest_debtor",
        "subject": {"id_number": citizen_id(sequence), "name": f"名单{sequence}"},
        "occurred_on": "2026-05-01",
        "fields": {"court": "重庆市渝中区人民法院", "case_number": "（2026）渝0103执9号",
                   "basis_document": "（2025）渝0103民初5号",
                   "dishonesty_kind": "evading_with_means", "performance": "not_performed"},
    }  # fmt: skip


def _tax(bureau: Provider, record_id: str, sequence: int) -> dict[str, Any]:
    return {
        "op": "add", "provider": bureau.code, "record_id": record_id, "type": "C.tax_payment",
        "subject": {"id_number": citizen_id(sequence), "name": f"名单{sequence}"},
        "occurred_on": "2026-10-15",
        "fields": {"tax_kind": "individual_income", "tax_period": "2026-09",
                   "status": "paid_on_time"},
    }  # fmt: skip


def _officer(app: Flask, name: str = "officer.wu") -> tuple[FlaskClient, dict[str, str]]:
    account = make_account(app, name, kind="staff", roles=("compliance",))
    client, csrf = logged_in(app, account, OFFICER)
    return client, {"X-CSRF-Token": csrf}


def _searcher(app: Flask) -> tuple[FlaskClient, dict[str, str]]:
    account = make_account(app, "searcher.li")
    client, csrf = logged_in(app, account, frozenset({"password", "card"}))
    return client, {"X-CSRF-Token": csrf}


def _listings(client: FlaskClient, headers: dict[str, str], sequence: int) -> list[Any]:
    response = client.post(
        "/api/v1/public/lists/search", json={"id_number": citizen_id(sequence)}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return [item["list"] for entry in response.get_json()["results"] for item in entry["listings"]]


def test_lists_are_published_only_after_review_and_removed_in_three_working_days(
    app: Flask, clock: MovableClock
) -> None:
    court = register_provider(app)
    bureau = register_provider(app, kind="tax_bureau", name="重庆市税务局")
    client = app.test_client()
    submit(client, court, jsonl([_debtor(court, "L-1", 601)]))
    submit(client, bureau, jsonl([_tax(bureau, "T-1", 602)]))
    officer, headers = _officer(app)
    searcher, search_headers = _searcher(app)

    derived = officer.post("/api/v1/review/lists/derive", headers=headers)
    assert derived.get_json() == {
        "subjects": 2, "proposed_add": 2, "proposed_remove": 0, "withdrawn": 0,
    }  # fmt: skip
    assert _listings(searcher, search_headers, 601) == []  # not before review
    pending = officer.get("/api/v1/review/list-changes").get_json()["changes"]
    by_list = {change["list"]: change for change in pending}
    black = by_list["black"]
    assert black["check_passed"] is True
    assert {c["field"] for c in black["check"]} == {
        "court", "case_number", "basis_document", "dishonesty_kind", "performance",
    }  # fmt: skip
    assert "名单601" not in str(pending)
    again = officer.post("/api/v1/review/lists/derive", headers=headers).get_json()
    assert again["proposed_add"] == 0  # pending ones are not proposed twice

    for change in pending:
        done = officer.post(
            f"/api/v1/review/list-changes/{change['id']}/approve", json={"note": "ok"},
            headers=headers,
        )  # fmt: skip
        assert done.status_code == 200, done.get_json()
    assert _listings(searcher, search_headers, 601) == ["black"]
    assert _listings(searcher, search_headers, 602) == ["red"]

    # the court withdraws the listing on Friday 2026-12-04: due by Wednesday 12-09
    submit(client, court, jsonl([{"op": "withdraw", "provider": court.code, "record_id": "L-1",
                                  "reason": "decision_revoked"}]))  # fmt: skip
    officer.post("/api/v1/review/lists/derive", headers=headers)
    (removal,) = officer.get("/api/v1/review/list-changes").get_json()["changes"]
    assert (removal["change"], removal["decided_on"], removal["due_by"]) == (
        "remove", "2026-12-04", "2026-12-09",
    )  # fmt: skip
    assert officer.get("/api/v1/review/lists/overdue").get_json()["overdue"] == []
    clock.move_to_day(date(2026, 12, 10))
    (late,) = officer.get("/api/v1/review/lists/overdue").get_json()["overdue"]
    assert late["id"] == removal["id"]
    assert late["overdue"] is True
    assert _listings(searcher, search_headers, 601) == ["black"]  # still showing: flagged
    officer.post(
        f"/api/v1/review/list-changes/{removal['id']}/approve", json={"note": "late"},
        headers=headers,
    )  # fmt: skip
    assert _listings(searcher, search_headers, 601) == []
    assert officer.get("/api/v1/review/lists/overdue").get_json()["overdue"] == []
    with container(app).sessions() as db:
        reviews = db.scalars(
            select(QueryLogEntry.reason).where(QueryLogEntry.action == "compliance:list:review")
        ).all()
    assert list(reviews) == ["approved", "approved", "approved"]


def test_only_compliance_officers_review(app: Flask) -> None:
    cashier = make_account(app, "cashier.q", kind="staff", roles=("cashier",))
    client, csrf = logged_in(app, cashier, OFFICER)
    assert client.get("/api/v1/review/list-changes").status_code == 403
    registrar = make_account(app, "reg.q", kind="staff", roles=("registrar",))
    client, csrf = logged_in(app, registrar, frozenset({"password", "totp", "card"}))
    derive = client.post("/api/v1/review/lists/derive", headers={"X-CSRF-Token": csrf})
    assert derive.status_code == 403
    weak = make_account(app, "officer.weak", kind="staff", roles=("compliance",))
    client, _ = logged_in(app, weak, frozenset({"password"}))
    assert client.get("/api/v1/review/list-changes").get_json()["error"] == "step_up_required"


def test_a_listing_that_would_publish_a_redacted_field_cannot_be_approved(app: Flask) -> None:
    parts = container(app)
    court = register_provider(app, kind="market_regulator", name="重庆市市场监督管理局")
    penalty = {
        "op": "add", "provider": court.code, "record_id": "S-1", "type": "D.penalty_serious",
        "subject": {"id_number": citizen_id(611), "name": "名单611"},
        "occurred_on": "2026-10-01", "ended_on": "2026-10-01",
        "fields": {"authority": "重庆市市场监督管理局", "authority_credit_code": AUTHORITY_CODE,
                   "decision_number": "渝市监罚〔2026〕1号", "violation": "虚假宣传",
                   "facts": "当事人……", "penalty_kind": "fine"},
    }  # fmt: skip
    receipt = submit(app.test_client(), court, jsonl([penalty])).get_json()
    assert receipt["counts"]["added"] == 1, receipt
    text = Path("policies/data/lists.toml").read_text(encoding="utf-8")
    rules = parse_list_rules(
        text.replace('"violation", "penalty_kind"]', '"violation", "facts", "penalty_kind"]'),
        source="lists.toml",
        catalog=parts.catalog,
    )
    review = ListReview(
        parts.catalog, rules, default_calendar(), parts.cipher, parts.key_provider,
        parts.query_log(),
    )  # fmt: skip
    officer = make_account(app, "officer.zhao", kind="staff", roles=("compliance",))
    who = Officer(officer.id, "req-1", "127.0.0.1")
    with parts.unit() as db:
        review.derive(db, on=TODAY, now=parts.clock.now())
        (change,) = review.changes(db, on=TODAY)
    assert change["check_passed"] is False
    facts = next(c for c in change["check"] if c["field"] == "facts")
    assert (facts["public_mask"], facts["reason"]) == ("redact", "public_mask_redacts")
    import uuid

    with pytest.raises(ReviewRefused) as refused, parts.unit() as db:
        review.review(
            db, uuid.UUID(change["id"]), who, approve=True, note="", now=parts.clock.now(),
            on=TODAY,
        )  # fmt: skip
    assert refused.value.code == "confidentiality_check_failed"
    with parts.sessions() as db:
        assert db.scalars(select(ListPublication)).all() == []


def test_the_officer_page_shows_the_check_and_approves(app: Flask) -> None:
    court = register_provider(app)
    submit(app.test_client(), court, jsonl([_debtor(court, "P-1", 621)]))
    officer, headers = _officer(app, "officer.page")
    page = officer.get("/review/lists")
    assert page.status_code == 200
    assert "no-pending" in page.get_data(as_text=True)
    derived = officer.post("/review/lists/derive", data={"csrf_token": headers["X-CSRF-Token"]})
    assert derived.status_code == 303
    text = officer.get("/review/lists").get_data(as_text=True)
    assert "失信黑名单" in text
    assert "court" in text
    assert "名单621" not in text
    (change,) = officer.get("/api/v1/review/list-changes").get_json()["changes"]
    decided = officer.post(
        f"/review/lists/{change['id']}/decide",
        data={"csrf_token": headers["X-CSRF-Token"], "decision": "approve", "note": "ok"},
    )
    assert decided.status_code == 303
    assert "done=approved" in decided.headers["Location"]
    assert officer.get("/api/v1/review/list-changes").get_json()["changes"] == []
    forbidden = officer.post(f"/review/lists/{change['id']}/decide", data={"decision": "approve"})
    assert forbidden.status_code == 403  # no CSRF token


def test_removal_deadlines_follow_the_working_day_calendar() -> None:
    calendar = default_calendar()
    # National Day: decided on Wednesday 30 September, due Saturday 10 October (a working day)
    assert calendar.working_day_after(date(2026, 9, 30), 3).day == date(2026, 10, 10)
    # Spring Festival: decided Friday 13 February, due Wednesday 25 February
    assert calendar.working_day_after(date(2026, 2, 13), 3).day == date(2026, 2, 25)
    late = calendar.working_day_after(date(2026, 12, 30), 3)
    assert (late.day, late.provisional) == (date(2027, 1, 5), True)


def test_flask_lists_derive_and_overdue_for_cron(app: Flask, clock: MovableClock) -> None:
    court = register_provider(app)
    submit(app.test_client(), court, jsonl([_debtor(court, "K-1", 631)]))
    runner = app.test_cli_runner()
    derived = runner.invoke(args=["lists", "derive"])
    assert derived.exit_code == 0, derived.output
    assert "proposed 1 listing(s), 0 removal(s)" in derived.output
    officer, headers = _officer(app, "officer.cron")
    (change,) = officer.get("/api/v1/review/list-changes").get_json()["changes"]
    officer.post(
        f"/api/v1/review/list-changes/{change['id']}/approve", json={"note": ""}, headers=headers
    )
    withdraw = {"op": "withdraw", "provider": court.code, "record_id": "K-1", "reason": "other"}
    submit(app.test_client(), court, jsonl([withdraw]))
    assert "1 removal(s)" in runner.invoke(args=["lists", "derive"]).output
    assert runner.invoke(args=["lists", "overdue"]).exit_code == 0
    clock.move_to_day(date(2026, 12, 10))
    late = runner.invoke(args=["lists", "overdue"])
    assert late.exit_code == 1
    assert "OVERDUE black removal" in late.output
    report = runner.invoke(args=["statistics", "report", "--officer", "officer.cron"])
    assert report.exit_code == 0, report.output
    assert '"min_cell_subjects": 10' in report.output
    refused = runner.invoke(args=["statistics", "report", "--officer", "nobody"])
    assert refused.exit_code == 1
