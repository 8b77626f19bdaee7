"""The own and archive reports as signed PDFs over HTTP: a rendering of the same logged
query (same decision, charge and entry, the same released fields), verifiable afterwards;
what is refused is refused as for the JSON. Real sealed records, SoftHSM2, both backends."""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.container import container
from app.services.reports.pdf import signing
from tests.clocks import MovableClock
from tests.pdf.helpers import chain_for, pdftotext
from tests.services.report_helpers import Person, citizen_id, dishonest, loan, penalty
from tests.web.self_helpers import client_for, entries, subject_account
from tests.web.test_billing import _cashier, _subject

TODAY = date(2026, 11, 21)
REPORTS = "/api/v1/self/reports"
NAME = "赵丽华"
ID_NUMBER = citizen_id(63)
PDF = {"Accept": "application/pdf"}


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> tuple[FlaskClient, dict[str, str]]:
    person = Person(
        ID_NUMBER,
        NAME,
        (
            loan(date(2019, 1, 1)),
            penalty(date(2026, 5, 1), serious=False),
            dishonest(date(2025, 1, 10), None),
        ),
    )
    account, _ = subject_account(app, person, today=TODAY)
    return client_for(app, account)


@pytest.fixture
def certified(app: Flask) -> bytes:
    return chain_for(app).root


def _released(app: Flask, action: str) -> list[tuple[str, str, Any, int]]:
    return [
        (e.decision, e.reason, sorted(e.fields_released or []), e.fee_fen)
        for e in entries(app, action)
    ]


def test_the_own_report_as_pdf_is_the_same_logged_query_signed(
    app: Flask, holder: tuple[FlaskClient, dict[str, str]], certified: bytes, tmp_path: Path
) -> None:
    client, csrf = holder
    as_json = client.post(REPORTS, headers=csrf)
    assert as_json.status_code == 200
    as_pdf = client.post(REPORTS, headers={**csrf, **PDF})
    assert as_pdf.status_code == 200
    assert as_pdf.mimetype == "application/pdf"
    assert as_pdf.headers["Content-Disposition"].startswith("attachment; filename=")
    assert as_pdf.headers["Cache-Control"] == "no-store"
    content = as_pdf.get_data()
    assert signing.check(content, root=certified).sound
    text = re.sub(r"\s+", "", pdftotext(content, tmp_path))
    assert NAME in text
    assert ID_NUMBER in text
    assert "信息概要" in text
    assert "查询记录" in text
    # one entry each, identical: same decision, reason, released fields and fee (free)
    json_entry, pdf_entry = _released(app, "self:report:read")
    assert json_entry == pdf_entry
    assert json_entry[0] == "allowed"
    assert json_entry[2]  # it released fields
    # both used up a free report: the third asks for payment, as PDF too
    third = client.post(REPORTS, headers={**csrf, **PDF})
    assert third.status_code == 402
    assert third.get_json()["error"] == "payment_required"
    # and the PDF verifies publicly
    checked = client.post(
        "/api/v1/report-verifications", data=content, content_type="application/pdf"
    )
    assert checked.get_json()["valid"] is True


def test_format_pdf_asks_for_it_too_and_an_unknown_format_is_refused(
    app: Flask, holder: tuple[FlaskClient, dict[str, str]], certified: bytes
) -> None:
    client, csrf = holder
    assert client.post(f"{REPORTS}?format=pdf", headers=csrf).mimetype == "application/pdf"
    refused = client.post(f"{REPORTS}?format=docx", headers=csrf)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "bad_request"
    assert client.post(f"{REPORTS}?format=json", headers={**csrf, **PDF}).is_json
    reasons = [e.reason for e in entries(app, "self:report:read")]
    assert reasons[1] == "bad_request"  # logged, and nothing charged:
    assert [r[0] for r in _released(app, "self:report:read")] == ["allowed", "denied", "allowed"]


def test_without_a_signing_certificate_there_is_no_pdf_and_no_charge(
    app: Flask, holder: tuple[FlaskClient, dict[str, str]]
) -> None:
    client, csrf = holder
    refused = client.post(REPORTS, headers={**csrf, **PDF})
    assert refused.status_code == 503
    assert [(e.decision, e.reason) for e in entries(app, "self:report:read")] == [
        ("failed", "internal_error")
    ]
    chain_for(app)  # `flask reports certify`
    assert client.post(REPORTS, headers={**csrf, **PDF}).status_code == 200
    assert client.post(REPORTS, headers=csrf).status_code == 200  # the second free one


def test_an_archive_report_downloads_as_pdf_once_paid(
    app: Flask, certified: bytes, tmp_path: Path
) -> None:
    buyer, cashier = _subject(app), _cashier(app)
    number = citizen_id(64)
    status, body = buyer.post("/api/v1/archive/orders", {"id_number": number})
    assert status == 201, body
    order_id = body["order"]["id"]  # type: ignore[index]
    report = f"/api/v1/archive/orders/{order_id}/report"
    unpaid = buyer.client.get(report, headers=PDF)
    assert unpaid.status_code == 402  # a PDF of an unpaid order: refused like the JSON
    assert unpaid.get_json()["order_id"] == order_id
    assert (
        cashier.post(f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": "P1"})[0] == 200
    )
    paid = buyer.client.get(f"{report}?format=pdf")
    assert paid.status_code == 200
    assert paid.mimetype == "application/pdf"
    content = paid.get_data()
    assert signing.check(content, root=certified).sound
    text = re.sub(r"\s+", "", pdftotext(content, tmp_path))
    assert "个人信用报告（档案查询版）" in text
    assert f"{number[:6]}********{number[-4:]}" in text
    assert number not in text
    assert "查询记录" not in text
    as_json = buyer.client.get(report)
    assert as_json.status_code == 200
    downloads = [r for r in _released(app, "archive:report:read") if r[0] == "allowed"]
    assert len(downloads) == 2
    assert downloads[0] == downloads[1]  # the same released fields and fee, JSON or PDF
    assert container(app).policy.version  # the policy that decided both


def test_a_paid_order_pays_for_the_pdf_at_the_fee_it_was_charged(
    app: Flask, holder: tuple[FlaskClient, dict[str, str]], certified: bytes, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from app.models import Order

    client, csrf = holder
    for _ in range(2):  # the free reports of the year
        assert client.post(REPORTS, headers=csrf).status_code == 200
    unpaid = client.post(REPORTS, headers={**csrf, **PDF})
    assert unpaid.status_code == 402
    order_id = unpaid.get_json()["order_id"]
    cashier = _cashier(app)
    assert (
        cashier.post(f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": "S1"})[0] == 200
    )
    with container(app).unit() as db:  # an order priced before a fee change: 5 yuan
        db.execute(update(Order).where(Order.id == uuid.UUID(order_id)).values(fee_fen=500))
    paid = client.post(REPORTS, json={"order_id": order_id}, headers={**csrf, **PDF})
    assert paid.status_code == 200
    assert paid.mimetype == "application/pdf"
    assert signing.check(paid.get_data(), root=certified).sound
    text = re.sub(r"\s+", "", pdftotext(paid.get_data(), tmp_path))
    assert "5.00元" in text  # the fee the order was charged, not the policy's 10 yuan
    last = _released(app, "self:report:read")[-1]
    assert (last[0], last[3]) == ("allowed", 500)
