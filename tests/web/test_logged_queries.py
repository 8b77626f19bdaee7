"""The one shape of a logged query, seen from outside: whatever goes wrong after the caller is
authenticated, the attempt leaves exactly one entry and discloses nothing; and the defects
found by testing from outside stay fixed (a cursor past the largest position, every 402 or
archive order making another open order, refunds after a download)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import Order
from app.services.reports.assembly import ReportService
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.services.report_helpers import Person, citizen_id, loan
from tests.web.self_helpers import CARD, client_for, entries, subject_account

TODAY = date(2026, 11, 21)
NAME = "林小雨"


@pytest.fixture
def holder(app: Flask, clock: MovableClock) -> Any:
    clock.move_to_day(TODAY)
    person = Person(citizen_id(61), NAME, (loan(date(2019, 1, 1)),))
    account, _ = subject_account(app, person, today=TODAY)
    return account


def _report(app: Flask, account: Any, body: Any = None) -> Any:
    client, headers = client_for(app, account)
    return client.post("/api/v1/self/reports", json=body or {}, headers=headers)


def test_an_unexpected_error_leaves_one_failed_entry_and_discloses_nothing(
    app: Flask, holder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("a bug while masking " + NAME)

    monkeypatch.setattr(ReportService, "shape", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise to the test
    response = _report(app, holder)
    assert response.status_code == 500
    assert NAME not in response.get_data(as_text=True)
    [entry] = entries(app, "self:report:read")
    assert (entry.decision, entry.reason) == ("failed", "internal_error")
    assert entry.request_id == response.headers["X-Request-Id"]
    with container(app).snapshot() as db:  # nothing was charged
        used = db.execute(select(func.coalesce(func.sum(Order.fee_fen), 0))).scalar_one()
    assert used == 0


@pytest.mark.parametrize(
    "cursor", ["9223372036854775808", "99999999999999999999", "0", "-1", "１２", "1e3"]
)
def test_a_cursor_outside_the_positions_handed_out_is_bad_input(
    app: Flask, holder: Any, cursor: str
) -> None:
    client, _ = client_for(app, holder)
    response = client.get("/api/v1/self/query-records", query_string={"cursor": cursor})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    [entry] = entries(app, "self:query_log:read")
    assert (entry.decision, entry.reason) == ("denied", "bad_request")


def test_asking_again_after_the_free_reports_reuses_the_one_open_order(
    app: Flask, holder: Any
) -> None:
    for _ in range(2):
        assert _report(app, holder).status_code == 200
    refused = [_report(app, holder) for _ in range(5)]
    assert {r.status_code for r in refused} == {402}
    assert len({r.get_json()["order_id"] for r in refused}) == 1
    with container(app).snapshot() as db:
        assert db.execute(select(func.count()).select_from(Order)).scalar_one() == 1


def _buyer(app: Flask) -> Any:
    client, csrf = logged_in(app, make_account(app, "buyer"), CARD)

    def order(number: str) -> Any:
        return client.post(
            "/api/v1/archive/orders", json={"id_number": number}, headers={"X-CSRF-Token": csrf}
        )

    return order


def test_archive_orders_are_reused_capped_and_expire(app: Flask, clock: MovableClock) -> None:
    order = _buyer(app)
    first = order(citizen_id(1))
    assert first.status_code == 201
    again = order(citizen_id(1))
    assert again.status_code == 200  # the same open order, not another one
    assert again.get_json()["order"]["id"] == first.get_json()["order"]["id"]
    assert again.get_json()["order"]["expires_at"] is not None
    cap = container(app).policy.open_orders_per_account
    for n in range(2, cap + 1):
        assert order(citizen_id(n)).status_code == 201
    over = order(citizen_id(cap + 1))
    assert (over.status_code, over.get_json()["error"]) == (409, "too_many_open_orders")
    assert entries(app, "archive:order:create")[-1].reason == "too_many_open_orders"
    clock.advance(timedelta(hours=container(app).policy.unpaid_order_hours, minutes=1))
    renewed = order(citizen_id(1))  # the old ones expired: a fresh order, under the cap again
    assert renewed.status_code == 201
    assert renewed.get_json()["order"]["id"] != first.get_json()["order"]["id"]
    with container(app).snapshot() as db:
        statuses = db.execute(select(Order.status, func.count()).group_by(Order.status)).all()
    assert dict(statuses) == {"cancelled": cap, "pending": 1}


def test_an_expired_order_cannot_be_paid_at_the_counter(app: Flask, clock: MovableClock) -> None:
    order_id = _buyer(app)(citizen_id(3)).get_json()["order"]["id"]
    cashier = make_account(app, "cashier", kind="staff", roles=("cashier",))
    client, csrf = logged_in(app, cashier, frozenset({"password", "totp"}))
    clock.advance(timedelta(hours=container(app).policy.unpaid_order_hours, minutes=1))
    response = client.post(
        f"/api/v1/billing/orders/{order_id}/confirm",
        json={"payment_ref": "LATE-1"},
        headers={"X-CSRF-Token": csrf},
    )
    assert (response.status_code, response.get_json()["error"]) == (409, "order_expired")


def test_a_query_refuses_a_utf16_body_saying_why_and_logs_it(app: Flask, holder: Any) -> None:
    client, headers = client_for(app, holder)
    body = '{"order_id": "x"}'.encode("utf-16")
    response = client.post(
        "/api/v1/self/reports", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["message"]
    [entry] = entries(app, "self:report:read")
    assert (entry.decision, entry.reason) == ("denied", "malformed_body")
