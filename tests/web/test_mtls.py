"""Browsers: password + the card's client certificate, verified by the TLS proxy (mutual TLS);
and bad input on every login endpoint.

The proxy (docs/nginx-mtls.conf) forwards the verified certificate as URL-encoded PEM in
`X-SSL-Client-Cert`; the app believes that header only from `trusted_proxies`.

Decision on malformed requests (documented in app.services.auth.card_login and the README): a
request that cannot be a login (not a JSON object, ill-formed username or challenge id,
malformed base64, a signature of an impossible length, over 64 KiB) answers 4xx and changes
nothing: no attempt row, no throttle count, the challenge stays usable. It tests no factor, so
it gives a guesser nothing. An *absent* password or signature is a missing factor: 401 and a
failed attempt (see the login matrix in test_login_security.py).
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import AuthSession, LoginAttempt, LoginChallenge
from app.models.base import utcnow
from app.services.auth.cards import revoke
from app.web.identity import LOGIN_FAILED
from crypto.keys import KeyProvider
from tests.conftest import make_app, make_settings
from tests.web.test_card_login import (
    CHALLENGE,
    LOGIN,
    PASSWORD,
    Holder,
    SoftCard,
    attempts_for,
    b64u,
    enrolled_subject,
    get_challenge,
    issue,
    live_sessions,
)
from tests.web.test_login_security import foreign_ca_certificate, insert_card_row

MTLS = "/api/v1/auth/login/mtls"
PROXY = "10.9.8.1"
OUTSIDER = "203.0.113.99"
BROWSER = "198.51.100.20"


@pytest.fixture
def app(database_url: str, key_provider: KeyProvider, tmp_path: Path) -> Flask:
    """The portal behind a TLS proxy at 10.9.8.0/29 (CREDITGATE_TRUSTED_PROXIES)."""

    settings = make_settings(database_url, tmp_path, trusted_proxies=("10.9.8.0/29",))
    return make_app(settings, key_provider=key_provider)


def escaped(der: bytes) -> str:
    """What nginx puts in `$ssl_client_escaped_cert`: the PEM, URL-encoded."""
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
    return quote(pem, safe="")


def mtls_login(
    app: Flask,
    username: str,
    certificate: bytes | None,
    *,
    password: str | None = PASSWORD,
    peer: str = PROXY,
) -> tuple[int, dict[str, str]]:
    headers = {"X-Forwarded-For": BROWSER}
    if certificate is not None:
        headers["X-SSL-Client-Cert"] = escaped(certificate)
    body = {"username": username} | ({"password": password} if password is not None else {})
    client = app.test_client()
    response = client.post(MTLS, json=body, headers=headers, environ_base={"REMOTE_ADDR": peer})
    return response.status_code, response.get_json()


def test_certificate_from_the_trusted_proxy_plus_password_logs_in(app: Flask) -> None:
    holder = enrolled_subject(app, "qian.hui")
    client = app.test_client()
    response = client.post(
        MTLS,
        json={"username": "qian.hui", "password": PASSWORD},
        headers={"X-SSL-Client-Cert": escaped(holder.certificate), "X-Forwarded-For": BROWSER},
        environ_base={"REMOTE_ADDR": PROXY},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "username": "qian.hui",
        "kind": "subject",
        "methods": ["card", "password"],
    }
    assert (
        client.get("/api/v1/auth/session", environ_base={"REMOTE_ADDR": PROXY}).status_code == 200
    )
    with container(app).sessions() as db:
        row = db.scalars(
            select(AuthSession).where(AuthSession.account_id == holder.account.id)
        ).one()
    assert row.card_id == holder.card_id
    (attempt,) = attempts_for(app, "qian.hui")
    assert (attempt.outcome, attempt.reason, attempt.method) == ("success", "ok", "mtls")
    assert attempt.client_address == BROWSER  # the browser, as the trusted proxy reports it


def test_the_header_from_anywhere_else_is_ignored_and_logged_without_its_content(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    holder = enrolled_subject(app, "kong.rui")
    caplog.set_level(logging.DEBUG)
    status, body = mtls_login(app, "kong.rui", holder.certificate, peer=OUTSIDER)
    assert (status, body) == (401, LOGIN_FAILED)
    attempt = attempts_for(app, "kong.rui")[-1]
    assert (attempt.reason, attempt.method) == ("no_card", "mtls")
    assert attempt.client_address == OUTSIDER  # X-Forwarded-For from a non-proxy is ignored too
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(OUTSIDER in r.getMessage() and "trusted proxy" in r.getMessage() for r in warnings)
    body_b64 = base64.b64encode(holder.certificate).decode()
    for record in caplog.records:
        text = record.getMessage()
        assert "BEGIN" not in text
        assert body_b64[20:60] not in text
        assert escaped(holder.certificate)[40:80] not in text
    assert live_sessions(app, holder.account) == 0


def test_without_the_proxy_only_a_password_is_not_enough(app: Flask) -> None:
    enrolled_subject(app, "lu.yao")
    assert mtls_login(app, "lu.yao", None) == (401, LOGIN_FAILED)
    assert attempts_for(app, "lu.yao")[-1].reason == "no_card"


def test_an_unenrolled_certificate_from_our_ca_is_refused(app: Flask) -> None:
    enrolled_subject(app, "tang.yi")
    stray = issue(app, "tang.yi", SoftCard.ec())  # issued, never enrolled
    assert mtls_login(app, "tang.yi", stray) == (401, LOGIN_FAILED)
    assert attempts_for(app, "tang.yi")[-1].reason == "no_card"


def test_another_users_enrolled_certificate_is_refused(app: Flask) -> None:
    enrolled_subject(app, "fan.bing")
    other = enrolled_subject(app, "fan.other")
    assert mtls_login(app, "fan.bing", other.certificate) == (401, LOGIN_FAILED)
    assert attempts_for(app, "fan.bing")[-1].reason == "no_card"


def test_a_revoked_card_is_refused_and_its_mtls_sessions_end(app: Flask) -> None:
    holder = enrolled_subject(app, "yu.qing")
    client = app.test_client()
    ok = client.post(
        MTLS,
        json={"username": "yu.qing", "password": PASSWORD},
        headers={"X-SSL-Client-Cert": escaped(holder.certificate)},
        environ_base={"REMOTE_ADDR": PROXY},
    )
    assert ok.status_code == 200
    with container(app).unit() as db:
        revoke(db, holder.card_id, "compromised")
    assert (
        client.get("/api/v1/auth/session", environ_base={"REMOTE_ADDR": PROXY}).status_code == 401
    )
    assert mtls_login(app, "yu.qing", holder.certificate) == (401, LOGIN_FAILED)
    assert attempts_for(app, "yu.qing")[-1].reason == "card_revoked"


def test_the_password_is_still_required(app: Flask) -> None:
    holder = enrolled_subject(app, "ye.fei")
    assert mtls_login(app, "ye.fei", holder.certificate, password="wrong") == (401, LOGIN_FAILED)
    assert mtls_login(app, "ye.fei", holder.certificate, password=None) == (401, LOGIN_FAILED)
    assert [a.reason for a in attempts_for(app, "ye.fei")] == ["bad_password", "bad_password"]


@pytest.mark.parametrize("problem", ["expired", "another-ca"])
def test_an_enrolled_but_invalid_certificate_is_refused(app: Flask, problem: str) -> None:
    holder = enrolled_subject(app, "cui.lan")
    card = SoftCard.ec()
    if problem == "expired":
        der = issue(app, "cui.lan", card, days=1, now=utcnow() - timedelta(days=10))
    else:
        der = foreign_ca_certificate("cui.lan", card)
    insert_card_row(app, holder.account, der)
    assert mtls_login(app, "cui.lan", der) == (401, LOGIN_FAILED)
    expected = "cert_expired" if problem == "expired" else "cert_invalid"
    assert attempts_for(app, "cui.lan")[-1].reason == expected


def test_a_garbled_header_from_the_proxy_is_no_certificate(app: Flask) -> None:
    enrolled_subject(app, "pan.yue")
    client = app.test_client()
    for garbage in ("", "not-a-certificate", "-----BEGIN%20CERTIFICATE-----%0AAAAA", "x" * 20000):
        response = client.post(
            MTLS,
            json={"username": "pan.yue", "password": PASSWORD},
            headers={"X-SSL-Client-Cert": garbage},
            environ_base={"REMOTE_ADDR": PROXY},
        )
        assert response.status_code == 401
        assert response.get_json() == LOGIN_FAILED
    assert {a.reason for a in attempts_for(app, "pan.yue")} == {"no_card"}


# -- bad input: 4xx, a generic message, nothing changed --------------------------------------------


def _count(app: Flask, model: type[LoginAttempt] | type[AuthSession]) -> int:
    with container(app).sessions() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def _assert_nothing_changed(app: Flask, holder: Holder, challenge_id: str, tbs: bytes) -> None:
    """No attempt row, no session, and the challenge is still good for an honest login."""
    assert attempts_for(app, holder.username) == []
    assert _count(app, AuthSession) == 0
    with container(app).sessions() as db:
        row = db.get(LoginChallenge, challenge_id)
        assert row is not None
        assert row.used_at is None
    honest = {
        "challenge_id": challenge_id,
        "username": holder.username,
        "password": holder.password,
        "signature": b64u(holder.card.sign(tbs)),
    }
    assert app.test_client().post(LOGIN, json=honest).status_code == 200


MALFORMED_LOGINS = {
    "base64-garbage": {"signature": "%%%not*base64%%%"},
    "base64-impossible-length": {"signature": "QUJDRE"[:5]},
    "signature-63-bytes": {"signature": b64u(b"\x01" * 63)},
    "signature-65-bytes": {"signature": b64u(b"\x01" * 65)},
    "signature-255-bytes": {"signature": b64u(b"\x01" * 255)},
    "signature-a-number": {"signature": 12345},
    "password-a-list": {"password": ["correct", "horse"]},
    "password-too-long": {"password": "p" * 1025},
    "username-bad-characters": {"username": "zhou min; DROP TABLE"},
    "username-too-long": {"username": "z" * 65},
    "username-missing": {"username": None},
    "challenge-id-short": {"challenge_id": "abc"},
    "challenge-id-missing": {"challenge_id": None},
}


@pytest.mark.parametrize("case", list(MALFORMED_LOGINS))
def test_malformed_login_requests_answer_400_and_change_nothing(
    app: Flask, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    holder = enrolled_subject(app, "zhou.min")
    challenge_id, tbs = get_challenge(app.test_client(), holder.username)
    body: dict[str, object] = {
        "challenge_id": challenge_id,
        "username": holder.username,
        "password": holder.password,
        "signature": b64u(holder.card.sign(tbs)),
    }
    body.update(MALFORMED_LOGINS[case])
    body = {key: value for key, value in body.items() if value is not None}
    response = app.test_client().post(LOGIN, json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "bad_request"
    for value in MALFORMED_LOGINS[case].values():
        if isinstance(value, str) and value:
            assert value not in answer["message"]
            assert value not in caplog.text
    assert holder.password not in caplog.text
    _assert_nothing_changed(app, holder, challenge_id, tbs)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"username": "zhou.min"', "application/json"),  # broken JSON
        ('["zhou.min"]', "application/json"),  # not an object
        ("username=zhou.min&password=x", "application/x-www-form-urlencoded"),
        ('{"username": "zhou.min"}', "text/plain"),  # a cross-site form could send this
    ],
    ids=["broken-json", "json-array", "form-body", "text-plain"],
)
@pytest.mark.parametrize("endpoint", [CHALLENGE, LOGIN, "/api/v1/auth/login/mtls"])
def test_non_json_bodies_answer_400_and_change_nothing(
    app: Flask, endpoint: str, data: str, content_type: str
) -> None:
    holder = enrolled_subject(app, "zhou.min")
    challenge_id, tbs = get_challenge(app.test_client(), holder.username)
    response = app.test_client().post(endpoint, data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert "zhou.min" not in response.get_data(as_text=True)
    _assert_nothing_changed(app, holder, challenge_id, tbs)


@pytest.mark.parametrize("endpoint", [CHALLENGE, LOGIN, "/api/v1/auth/login/mtls"])
def test_bodies_over_64_kib_answer_413_and_change_nothing(app: Flask, endpoint: str) -> None:
    holder = enrolled_subject(app, "zhou.min")
    challenge_id, tbs = get_challenge(app.test_client(), holder.username)
    padding = "A" * (64 * 1024)
    response = app.test_client().post(
        endpoint,
        json={
            "challenge_id": challenge_id,
            "username": holder.username,
            "password": holder.password,
            "signature": b64u(holder.card.sign(tbs)),
            "padding": padding,
        },
    )
    assert response.status_code == 413
    assert padding[:100] not in response.get_data(as_text=True)
    _assert_nothing_changed(app, holder, challenge_id, tbs)


def test_bad_usernames_get_no_challenge(app: Flask) -> None:
    client = app.test_client()
    for username in ("", "   ", "a" * 65, "zhou min", "zhou/min", "<script>", 7, None):
        response = client.post(CHALLENGE, json={"username": username})
        assert response.status_code == 400
        assert response.get_json()["error"] == "bad_request"
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(LoginChallenge)) == 0
    assert _count(app, LoginAttempt) == 0
