"""The browser pages of the mutual-TLS login: the password form, the account page, logout.

The form posts to the same service path as `POST /api/v1/auth/login/mtls` (see test_mtls.py for
the login rules themselves); these tests pin what the pages show, the redirects, and that the
pages never leak a certificate from an untrusted sender or the password.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.services.auth.card_login import certificate_common_name
from app.services.auth.login_attempts import MAX_FAILURES
from crypto.keys import KeyProvider
from tests.conftest import make_app, make_settings
from tests.web.test_card_login import (
    PASSWORD,
    Holder,
    attempts_for,
    enrolled_subject,
    live_sessions,
)
from tests.web.test_mtls import BROWSER, OUTSIDER, PROXY, escaped

PAGE = "/login/card"
NOT_PRESENTED = "Your card was not presented."


@pytest.fixture
def app(database_url: str, key_provider: KeyProvider, tmp_path: Path) -> Flask:

    settings = make_settings(database_url, tmp_path, trusted_proxies=("10.9.8.0/29",))
    return make_app(settings, key_provider=key_provider)


def browser(app: Flask, peer: str = PROXY) -> FlaskClient:
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=BROWSER)
    return client


def card_headers(holder: Holder) -> dict[str, str]:
    return {"X-SSL-Client-Cert": escaped(holder.certificate)}


def log_in(
    client: FlaskClient, holder: Holder, username: str, password: str = PASSWORD
) -> TestResponse:
    return client.post(
        PAGE, data={"username": username, "password": password}, headers=card_headers(holder)
    )


def test_the_page_names_the_card_the_trusted_proxy_forwarded(app: Flask) -> None:
    holder = enrolled_subject(app, "wei.lan")
    response = browser(app).get(PAGE, headers=card_headers(holder))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert re.search(r'<strong id="card-name">wei\.lan</strong>', page)
    assert NOT_PRESENTED not in page
    assert 'name="password" type="password"' in page
    assert 'action="/login/card"' in page
    assert "<script" not in page  # CSP default-src 'self': no inline script or style
    assert "style=" not in page


def test_the_header_from_an_untrusted_address_shows_nothing_and_is_logged(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    holder = enrolled_subject(app, "ou.yang")
    caplog.set_level(logging.WARNING)
    page = browser(app, OUTSIDER).get(PAGE, headers=card_headers(holder)).get_data(as_text=True)
    assert "ou.yang" not in page
    assert NOT_PRESENTED in page
    assert "pick the card's certificate" in page
    assert any(OUTSIDER in r.getMessage() for r in caplog.records)
    assert all("BEGIN" not in r.getMessage() for r in caplog.records)


def test_without_a_certificate_the_page_explains_how_to_present_the_card(app: Flask) -> None:
    page = browser(app).get(PAGE).get_data(as_text=True)
    assert NOT_PRESENTED in page
    assert "Insert your card" in page
    assert "card-name" not in page


def test_card_and_password_log_in_and_land_on_the_account_page(app: Flask) -> None:
    holder = enrolled_subject(app, "shen.mo")
    client = browser(app)
    response = log_in(client, holder, " Shen.Mo ")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    (attempt,) = attempts_for(app, "shen.mo")
    assert (attempt.outcome, attempt.method, attempt.client_address) == ("success", "mtls", BROWSER)
    account = client.get("/account")
    assert account.status_code == 200
    assert account.headers["Cache-Control"] == "no-store"
    page = account.get_data(as_text=True)
    assert '<td id="account-username">shen.mo</td>' in page
    assert '<td id="account-methods">card+password</td>' in page
    assert PASSWORD not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    assert client.get("/api/v1/auth/session").get_json()["csrf_token"] == token.group(1)


@pytest.mark.parametrize(
    ("username", "password", "with_card", "reason"),
    [
        ("zhou.an", "wrong password", True, "bad_password"),
        ("zhou.an", PASSWORD, False, "no_card"),
        ("nobody.here", PASSWORD, True, "unknown_account"),
    ],
)
def test_any_failure_re_renders_the_form_with_one_generic_message(
    app: Flask, username: str, password: str, with_card: bool, reason: str
) -> None:
    holder = enrolled_subject(app, "zhou.an")
    headers = card_headers(holder) if with_card else {}
    response = browser(app).post(
        PAGE, data={"username": username, "password": password}, headers=headers
    )
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert '<p class="notice error" id="login-message" role="alert">Login failed.</p>' in page
    assert password not in page
    assert f'value="{username}"' in page  # the username is kept, the password never
    assert attempts_for(app, username)[-1].reason == reason
    assert live_sessions(app, holder.account) == 0


def test_malformed_input_is_400_and_changes_nothing(app: Flask) -> None:
    holder = enrolled_subject(app, "lin.xi")
    client = browser(app)
    for data in (
        {"password": PASSWORD},
        {"username": "bad name!", "password": PASSWORD},
        {"username": "lin.xi", "password": "x" * 1025},
    ):
        response = client.post(PAGE, data=data, headers=card_headers(holder))
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert 'id="login-message"' in page
        for echoed in (PASSWORD, "x" * 1025, "bad name!"):
            assert echoed not in page
    assert attempts_for(app, "lin.xi") == []


def test_a_throttled_browser_gets_429(app: Flask) -> None:
    holder = enrolled_subject(app, "hua.yu")
    client = browser(app)
    for _ in range(MAX_FAILURES):
        assert log_in(client, holder, "hua.yu", "wrong password").status_code == 401
    response = log_in(client, holder, "hua.yu")  # even the right password
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert live_sessions(app, holder.account) == 0


def test_the_account_page_without_a_session_redirects_to_the_login_page(app: Flask) -> None:
    client = browser(app)
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/card"
    assert client.post("/account/logout").status_code == 302


def test_logout_needs_the_csrf_token_and_ends_the_session(app: Flask) -> None:
    holder = enrolled_subject(app, "gu.feng")
    client = browser(app)
    assert log_in(client, holder, "gu.feng").status_code == 303
    assert client.post("/account/logout").status_code == 403
    assert client.post("/account/logout", data={"csrf_token": "forged"}).status_code == 403
    assert live_sessions(app, holder.account) == 1
    token = client.get("/api/v1/auth/session").get_json()["csrf_token"]
    response = client.post("/account/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login/card"
    assert live_sessions(app, holder.account) == 0
    assert client.get("/account").status_code == 302


def test_the_card_name_comes_only_from_a_certificate(app: Flask) -> None:
    holder = enrolled_subject(app, "qiu.ming")
    assert certificate_common_name(holder.certificate) == "qiu.ming"
    assert certificate_common_name(b"not a certificate") is None
    garbled = browser(app).get(PAGE, headers={"X-SSL-Client-Cert": "-----BEGIN%20junk"})
    assert NOT_PRESENTED in garbled.get_data(as_text=True)
