"""Server-side sessions: CSRF on state changes, logout, revocation, idle and absolute expiry."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import update

from app.container import container
from app.models import Account, AuthSession
from app.models.base import utcnow
from app.services.auth.sessions import SessionService
from tests.logins import logged_in, make_account


def test_whoami_answers_for_a_live_session_and_401_without(app: Flask) -> None:
    account = make_account(app, "zhang.wei", roles=())
    client, csrf = logged_in(app, account, frozenset({"password", "card"}))
    body = client.get("/api/v1/auth/session").get_json()
    assert body["username"] == "zhang.wei"
    assert body["methods"] == ["card", "password"]
    assert body["csrf_token"] == csrf
    assert app.test_client().get("/api/v1/auth/session").status_code == 401


def test_logout_is_post_needs_the_csrf_token_and_ends_the_session(app: Flask) -> None:
    account = make_account(app, "li.na")
    client, csrf = logged_in(app, account, frozenset({"password", "card"}))
    assert client.get("/api/v1/auth/logout").status_code == 405
    refused = client.post("/api/v1/auth/logout")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "csrf_failed"
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "x" * 43}).status_code == 403
    assert client.get("/api/v1/auth/session").status_code == 200  # still logged in
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/v1/auth/session").status_code == 401


def test_ending_all_sessions_of_an_account_logs_out_every_client(app: Flask) -> None:
    account = make_account(app, "wang.fang")
    first, _ = logged_in(app, account, frozenset({"password", "card"}))
    second, _ = logged_in(app, account, frozenset({"password", "card"}))
    other, _ = logged_in(app, make_account(app, "chen.jie"), frozenset({"password", "card"}))
    with container(app).unit() as db:
        assert SessionService().end_all_for_account(db, account.id, "factor_changed") == 2
    assert first.get("/api/v1/auth/session").status_code == 401
    assert second.get("/api/v1/auth/session").status_code == 401
    assert other.get("/api/v1/auth/session").status_code == 200


def test_a_disabled_account_loses_its_session(app: Flask) -> None:
    account = make_account(app, "liu.yang")
    client, _ = logged_in(app, account, frozenset({"password", "card"}))
    with container(app).unit() as db:
        db.execute(update(Account).where(Account.id == account.id).values(status="disabled"))
    assert client.get("/api/v1/auth/session").status_code == 401


def _age(app: Flask, account: Account, *, idle: timedelta, since_login: timedelta) -> None:
    with container(app).unit() as db:
        db.execute(
            update(AuthSession)
            .where(AuthSession.account_id == account.id)
            .values(
                last_seen_at=utcnow() - idle,
                expires_at=utcnow() + timedelta(hours=12) - since_login,
            )
        )


def test_idle_timeout_is_15_minutes_for_staff_and_30_for_the_public(app: Flask) -> None:
    staff = make_account(app, "registrar.zhao", kind="staff", roles=("registrar",))
    public = make_account(app, "huang.min")
    staff_client, _ = logged_in(app, staff, frozenset({"password", "totp"}))
    public_client, _ = logged_in(app, public, frozenset({"password", "card"}))
    _age(app, staff, idle=timedelta(minutes=14, seconds=50), since_login=timedelta(minutes=20))
    _age(app, public, idle=timedelta(minutes=16), since_login=timedelta(minutes=20))
    assert staff_client.get("/api/v1/auth/session").status_code == 200
    assert public_client.get("/api/v1/auth/session").status_code == 200
    _age(app, staff, idle=timedelta(minutes=15, seconds=1), since_login=timedelta(minutes=20))
    _age(app, public, idle=timedelta(minutes=30, seconds=1), since_login=timedelta(minutes=40))
    assert staff_client.get("/api/v1/auth/session").status_code == 401
    assert public_client.get("/api/v1/auth/session").status_code == 401


def test_a_session_ends_12_hours_after_login_even_if_active(app: Flask) -> None:
    account = make_account(app, "zhou.qiang")
    client, _ = logged_in(app, account, frozenset({"password", "card"}))
    _age(app, account, idle=timedelta(seconds=5), since_login=timedelta(hours=12, seconds=1))
    assert client.get("/api/v1/auth/session").status_code == 401


def test_the_login_cookie_is_secure_httponly_samesite_strict(app: Flask) -> None:
    from tests.web.test_card_login import card_login, enrolled_subject

    holder = enrolled_subject(app, "cookie.check")
    response = card_login(app.test_client(), holder)
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith("__Host-cg_session=")
    assert {"secure", "httponly", "samesite"} <= attributes
    assert "SameSite=Strict" in cookie
    assert "Expires" not in cookie  # a browser-session cookie; the server enforces lifetimes
    # __Host-: browsers accept it only with Secure, Path=/ and no Domain
    assert "Path=/;" in cookie + ";"
    assert "domain" not in attributes
