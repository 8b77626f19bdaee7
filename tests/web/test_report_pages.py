"""The subject's report pages: the own report in the PBOC order, its signed PDF, the query
records, each logged exactly like its API; refusals and a stale CSRF token as clear pages."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.clocks import MovableClock
from tests.pdf.helpers import chain_for
from tests.services.report_helpers import Person, citizen_id, dishonest, loan, penalty
from tests.web.self_helpers import client_for, entries, subject_account

TODAY = date(2026, 11, 21)
NAME = "王建国"
ID_NUMBER = citizen_id(81)
HTML = {"Accept": "text/html"}


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> tuple[FlaskClient, str]:
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
    client, headers = client_for(app, account)
    return client, headers["X-CSRF-Token"]


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_the_report_page_shows_the_pboc_sections_in_order_logged_like_the_api(
    app: Flask, holder: tuple[FlaskClient, str]
) -> None:
    client, csrf = holder
    form = _text(client.get("/report", headers=HTML))
    assert 'lang="zh-CN"' in form
    assert "查看我的信用报告" in form
    response = client.post("/report", data={"csrf_token": csrf}, headers=HTML)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = _text(response)
    headings = re.findall(r'<h3 id="[a-z_]+-title">([^<]+)</h3>', page)
    assert headings == [
        "一、信息概要",
        "二、身份信息",
        "三、金融信贷信息",
        "四、社会公共信息",
        "五、特别记录",
        "六、异议标注",
        "七、本人声明",
        "八、查询记录",
    ]
    assert NAME in page
    assert ID_NUMBER in page
    assert "<script" not in page
    assert "style=" not in page
    (entry,) = entries(app, "self:report:read")
    assert (entry.decision, entry.fee_fen) == ("allowed", 0)
    assert entry.fields_released


def test_the_report_page_speaks_english_when_asked(holder: tuple[FlaskClient, str]) -> None:
    client, csrf = holder
    response = client.post("/report?lang=en", data={"csrf_token": csrf}, headers=HTML)
    page = _text(response)
    assert '<html lang="en">' in page
    assert "Summary" in page
    assert "Financial credit" in page
    assert "cg_lang=en" in response.headers["Set-Cookie"]
    again = _text(client.get("/report", headers=HTML))  # the cookie keeps it
    assert "Open my credit report" in again
    assert 'href="/report?lang=zh"' in again


def test_the_pdf_button_downloads_the_signed_pdf_of_the_same_query(
    app: Flask, holder: tuple[FlaskClient, str]
) -> None:
    chain_for(app)
    client, csrf = holder
    response = client.post("/report/pdf", data={"csrf_token": csrf}, headers=HTML)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"%PDF")
    (entry,) = entries(app, "self:report:read")
    assert entry.decision == "allowed"


def test_a_third_report_is_a_payment_page_naming_the_own_order(
    app: Flask, holder: tuple[FlaskClient, str]
) -> None:
    client, csrf = holder
    for _ in range(2):
        assert client.post("/report", data={"csrf_token": csrf}).status_code == 200
    response = client.post("/report", data={"csrf_token": csrf}, headers=HTML)
    assert response.status_code == 402
    page = _text(response)
    assert "需要付费" in page
    order = re.search(r'<code id="problem-order">([0-9a-f-]{36})</code>', page)
    assert order is not None
    assert NAME not in page
    assert ID_NUMBER not in page
    assert [e.reason for e in entries(app, "self:report:read")][-1] == "payment_required"


def test_a_stale_csrf_token_is_a_clear_page_and_runs_nothing(
    app: Flask, holder: tuple[FlaskClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = holder
    caplog.set_level(logging.WARNING, logger="creditgate.security")
    response = client.post("/report", data={"csrf_token": "stale"}, headers=HTML)
    assert response.status_code == 403
    page = _text(response)
    assert "表单已失效" in page
    assert 'data-error="csrf_failed"' in page
    assert NAME not in page
    assert entries(app, "self:report:read") == []
    assert "csrf.failed: wrong_token" in caplog.text  # a security event with its reason code
    assert "stale" not in caplog.text  # the token itself is not logged


def test_the_query_records_page_is_logged_like_the_api(
    app: Flask, holder: tuple[FlaskClient, str]
) -> None:
    client, csrf = holder
    client.post("/report", data={"csrf_token": csrf})
    page = _text(client.get("/records", headers=HTML))
    assert "本人查询信用报告" in page
    assert len(entries(app, "self:query_log:read")) == 1
    bad = client.get("/records?cursor=x", headers=HTML)
    assert bad.status_code == 400
    assert [e.decision for e in entries(app, "self:query_log:read")] == ["allowed", "denied"]


def test_pages_need_a_login_and_an_unknown_page_is_a_page(client: FlaskClient) -> None:
    response = client.get("/report", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login/card")
    missing = client.get("/no-such-page", headers=HTML)
    assert missing.status_code == 404
    assert "未找到" in _text(missing)
    assert client.get("/no-such-page").get_json()["error"] == "not_found"
