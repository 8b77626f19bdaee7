"""The subject's search, archive-order and consent pages: each runs its API's use case and is
logged like it; another subject's order, an unpaid order's PDF and bad input are clear pages
that disclose nothing; every page string has its Chinese translation."""

from __future__ import annotations

import html
import re
import time
from datetime import date
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from flask import Flask
from flask.testing import FlaskClient

from app.container import container
from app.i18n import TRANSLATIONS, problems, read
from tests.clocks import MovableClock
from tests.pdf.helpers import chain_for
from tests.services.report_helpers import Person, citizen_id, dishonest, loan
from tests.web.self_helpers import client_for, entries, subject_account
from tests.web.test_billing import _notify

TODAY = date(2026, 11, 21)
HTML = {"Accept": "text/html"}
DEBTOR = Person(
    citizen_id(91), "陈守信", (loan(date(2019, 1, 1)), dishonest(date(2025, 1, 10), None))
)
BUYER = Person(citizen_id(92), "林晓", ())


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def _logged_in(app: Flask, person: Person) -> tuple[FlaskClient, str]:
    account, _ = subject_account(app, person, today=TODAY)
    client, headers = client_for(app, account)
    return client, headers["X-CSRF-Token"]


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_a_list_search_page_runs_the_search_and_logs_it(app: Flask) -> None:
    _logged_in(app, DEBTOR)
    client, csrf = _logged_in(app, BUYER)
    found = client.post(
        "/search", data={"csrf_token": csrf, "by": "name", "name": DEBTOR.name}, headers=HTML
    )
    assert found.status_code == 200
    page = _text(found)
    assert "失信" in page
    assert DEBTOR.id_number not in page  # masked: first 6 + last 4
    assert DEBTOR.id_number[:6] in page
    bad = client.post(
        "/search", data={"csrf_token": csrf, "by": "id_number", "id_number": "12345"}, headers=HTML
    )
    assert bad.status_code == 400
    assert "请检查您输入的内容" in _text(bad)
    assert [e.decision for e in entries(app, "public:list:search")] == ["allowed", "denied"]


def test_an_archive_order_from_order_to_paid_pdf(app: Flask, clock: MovableClock) -> None:
    chain_for(app)
    _logged_in(app, DEBTOR)
    client, csrf = _logged_in(app, BUYER)
    placed = client.post(
        "/archive/orders", data={"csrf_token": csrf, "id_number": DEBTOR.id_number}
    )
    assert placed.status_code == 303
    order_url = placed.headers["Location"]
    order_id = order_url.rsplit("/", 1)[1]
    page = _text(client.get(order_url, headers=HTML))
    assert 'data-status="pending"' in page
    assert "待付款" in page
    assert DEBTOR.id_number not in page

    unpaid = client.post(f"/orders/{order_id}/report/pdf", data={"csrf_token": csrf}, headers=HTML)
    assert unpaid.status_code == 402
    assert unpaid.mimetype == "text/html"
    assert f'<code id="problem-order">{order_id}</code>' in _text(unpaid)
    assert entries(app, "archive:report:read")[-1].reason == "payment_required"

    paid = {"notification_id": "N-7", "order_id": order_id, "amount_fen": 2000, "payment_ref": "W7"}
    skew = int(clock.now().timestamp() - time.time())  # the provider's clock is the service's
    assert _notify(app.test_client(), app, paid, skew=skew)[0] == 200
    assert 'data-status="paid"' in _text(client.get(order_url, headers=HTML))
    report = client.post(f"/orders/{order_id}/report", data={"csrf_token": csrf}, headers=HTML)
    assert report.status_code == 200
    assert "五、特别记录" in _text(report)
    pdf = client.post(f"/orders/{order_id}/report/pdf", data={"csrf_token": csrf})
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert [e.decision for e in entries(app, "archive:report:read")] == [
        "denied",
        "allowed",
        "allowed",
    ]
    listing = _text(client.get("/archive", headers=HTML))
    assert order_id[:8] in listing


def test_another_subjects_order_is_a_404_page_that_discloses_nothing(app: Flask) -> None:
    owner, owner_csrf = _logged_in(app, BUYER)
    placed = owner.post(
        "/archive/orders", data={"csrf_token": owner_csrf, "id_number": DEBTOR.id_number}
    )
    order_id = placed.headers["Location"].rsplit("/", 1)[1]
    stranger, csrf = _logged_in(app, DEBTOR)
    seen = stranger.get(f"/orders/{order_id}", headers=HTML)
    assert seen.status_code == 404
    assert "未找到" in _text(seen)
    assert "2000" not in _text(seen)
    pdf = stranger.post(f"/orders/{order_id}/report/pdf", data={"csrf_token": csrf}, headers=HTML)
    assert pdf.status_code == 404
    assert 'id="problem-order"' not in _text(pdf)
    assert entries(app, "archive:report:read")[-1].decision == "denied"


def test_the_consent_page_lists_explains_and_revokes(app: Flask) -> None:
    client, csrf = _logged_in(app, BUYER)
    page = _text(client.get("/consents", headers=HTML))
    assert 'id="no-consents"' in page
    assert "python -m app.client consent create" in page
    jti = "a" * 24
    revoked = client.post(f"/consents/{jti}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert revoked.headers["Location"].endswith("revoked=1")
    bad = client.post("/consents/x/revoke", data={"csrf_token": csrf}, headers=HTML)
    assert bad.status_code == 400
    stale = client.post(f"/consents/{jti}/revoke", data={"csrf_token": "old"}, headers=HTML)
    assert stale.status_code == 403
    assert "表单已失效" in _text(stale)


def test_the_consent_page_gives_the_commands_with_the_subjects_own_values(app: Flask) -> None:
    account, _ = subject_account(app, BUYER, today=TODAY)
    client, _ = client_for(app, account)
    page = html.unescape(_text(client.get("/consents", headers=HTML)))
    login = re.search(r'<pre class="command" id="consent-login">([^<]+)</pre>', page)
    create = re.search(r'<pre class="command" id="consent-command">([^<]+)</pre>', page)
    assert login is not None
    assert create is not None
    url = container(app).settings.public_url
    assert login.group(1).split() == [
        *("python", "-m", "app.client", "login", "--url", url),
        *("--username", account.username, "--token-label", "YOUR_CARD"),
    ]
    assert create.group(1).startswith("python -m app.client consent create --institution ")
    assert "--token-label YOUR_CARD" in create.group(1)
    assert "pkcs11-tool --list-slots" in page
    assert BUYER.id_number not in page


def test_every_page_string_has_a_chinese_translation() -> None:
    root = TRANSLATIONS.parent.parent
    method_map = [("app/web/**.py", "python"), ("app/templates/**.html", "jinja2")]
    found = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(root, method_map, keywords={"_": None, "_l": None})
        if message[0].startswith("app/")
    }
    catalog = read(TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po")
    assert problems(catalog) == []
    assert sorted(found - {m.id for m in catalog if m.id}) == []


def test_the_pages_choose_chinese_first_then_accept_language(client: FlaskClient) -> None:
    assert re.search(r'<html lang="zh-CN">', _text(client.get("/verify")))
    english = client.get("/verify", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in _text(english)
    chinese = client.get("/verify", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert '<html lang="zh-CN">' in _text(chinese)
