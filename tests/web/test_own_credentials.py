"""People manage their own password and sessions; operators end an account's sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import Account, AuthSession, LoginAttempt
from app.services.auth.sessions import MAX_SESSIONS
from tests.logins import logged_in, make_account

CARD = frozenset({"password", "card"})
OLD = "correct horse battery staple"
NEW = "quiet orchard lantern 58"
PASSWORD_API = "/api/v1/auth/password"


def _change(client: FlaskClient, csrf: str, current: str, new: str) -> object:
    return client.post(
        PASSWORD_API,
        json={"current_password": current, "new_password": new},
        headers={"X-CSRF-Token": csrf},
    )


def _matches(app: Flask, username: str, password: str) -> bool:
    parts = container(app)
    with parts.sessions() as db:
        account = db.scalar(select(Account).where(Account.username == username))
        return parts.passwords.verify(account.password_hash if account else None, password)


def _attempts(app: Flask, account: Account) -> list[tuple[str, str, str]]:
    with container(app).sessions() as db:
        rows = db.scalars(
            select(LoginAttempt)
            .where(LoginAttempt.account_id == account.id)
            .order_by(LoginAttempt.at, LoginAttempt.id)
        )
        return [(row.method, row.outcome, row.reason) for row in rows]


def test_changing_ones_password_checks_the_current_one_and_ends_other_sessions(
    app: Flask,
) -> None:
    account = make_account(app, "self.change", password=OLD)
    client, csrf = logged_in(app, account, CARD)
    other, _ = logged_in(app, account, CARD)
    wrong = _change(client, csrf, "not my password at all", NEW)
    assert wrong.status_code == 403  # type: ignore[attr-defined]
    weak = _change(client, csrf, OLD, "short")
    assert weak.status_code == 400  # type: ignore[attr-defined]
    assert weak.get_json()["reasons"]  # type: ignore[attr-defined]
    assert NEW not in str(weak.get_json())  # type: ignore[attr-defined]
    done = _change(client, csrf, OLD, NEW)
    assert done.status_code == 200  # type: ignore[attr-defined]
    assert done.get_json()["csrf_token"] != csrf  # type: ignore[attr-defined]
    assert client.get("/api/v1/auth/session").status_code == 200  # the caller continues
    assert other.get("/api/v1/auth/session").status_code == 401  # every other session ended
    assert _matches(app, "self.change", NEW)
    assert not _matches(app, "self.change", OLD)
    assert _attempts(app, account) == [
        ("password", "failure", "bad_password"),
        ("password", "success", "ok"),
    ]


def test_guessing_the_current_password_is_throttled(app: Flask) -> None:
    account = make_account(app, "self.throttle", password=OLD)
    client, csrf = logged_in(app, account, CARD)
    codes = [
        _change(client, csrf, f"wrong guess number {n}", NEW).status_code  # type: ignore[attr-defined]
        for n in range(6)
    ]
    assert codes == [403] * 5 + [429]
    assert _change(client, csrf, OLD, NEW).status_code == 429  # type: ignore[attr-defined]


def test_an_operator_set_password_must_be_changed_before_anything_else(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(app, "ops.reset", kind="staff", password=OLD)
    typed = tmp_path / "typed"
    typed.write_text("amber kettle river 9\n")
    monkeypatch.setenv("CREDITGATE_NEW_PASSWORD_FILE", str(typed))
    result = app.test_cli_runner().invoke(
        args=["accounts", "set-password", "--username", "ops.reset"]
    )
    assert result.exit_code == 0, result.output
    assert "must change it" in result.output
    client, csrf = logged_in(app, account, frozenset({"password", "totp"}))
    refused = client.get("/api/v1/review/list-changes")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "password_change_required"
    page = client.get("/account")
    assert page.status_code == 303
    assert page.headers["Location"].endswith("/account/password")
    assert client.get("/api/v1/auth/session").status_code == 200
    changed = _change(client, csrf, "amber kettle river 9", NEW)
    assert changed.status_code == 200  # type: ignore[attr-defined]
    assert client.get("/account").status_code == 200


def test_people_list_and_end_their_own_sessions_only(app: Flask) -> None:
    mine = make_account(app, "self.sessions")
    theirs = make_account(app, "someone.else")
    client, csrf = logged_in(app, mine, CARD)
    phone, _ = logged_in(app, mine, CARD)
    stranger, stranger_csrf = logged_in(app, theirs, CARD)
    listed = client.get("/api/v1/auth/sessions").get_json()["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    other = next(s["handle"] for s in listed if not s["current"])
    cookie = client.get_cookie("__Host-cg_session")
    assert cookie is not None
    assert all(s["handle"] not in cookie.value for s in listed)
    refused = stranger.post(
        f"/api/v1/auth/sessions/{other}/end",
        json={"password": OLD},
        headers={"X-CSRF-Token": stranger_csrf},
    )
    assert refused.status_code == 404
    assert phone.get("/api/v1/auth/session").status_code == 200
    unproven = client.post(
        f"/api/v1/auth/sessions/{other}/end",
        json={"password": "not the password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert unproven.status_code == 403  # ending a session needs the password again
    assert phone.get("/api/v1/auth/session").status_code == 200
    ended = client.post(
        f"/api/v1/auth/sessions/{other}/end", json={"password": OLD}, headers={"X-CSRF-Token": csrf}
    )
    assert ended.status_code == 200
    assert phone.get("/api/v1/auth/session").status_code == 401
    assert client.get("/api/v1/auth/session").status_code == 200


def test_a_login_beyond_the_limit_ends_the_least_recently_used_session(app: Flask) -> None:
    account = make_account(app, "self.many")
    clients = [logged_in(app, account, CARD)[0] for _ in range(MAX_SESSIONS + 1)]
    assert clients[0].get("/api/v1/auth/session").status_code == 401
    assert all(c.get("/api/v1/auth/session").status_code == 200 for c in clients[1:])
    with container(app).sessions() as db:
        reasons = db.scalars(
            select(AuthSession.end_reason).where(AuthSession.account_id == account.id)
        ).all()
    assert sorted(r for r in reasons if r) == ["session_limit"]


def test_an_operator_lists_and_ends_an_accounts_sessions(app: Flask) -> None:
    account = make_account(app, "ops.target")
    first, _ = logged_in(app, account, CARD)
    second, _ = logged_in(app, account, CARD)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["accounts", "sessions", "--username", "ops.target"])
    assert "2 live session(s)" in listed.output
    ended = runner.invoke(args=["accounts", "end-sessions", "--username", "ops.target"])
    assert ended.exit_code == 0, ended.output
    assert "Ended 2 live session(s)" in ended.output
    assert first.get("/api/v1/auth/session").status_code == 401
    assert second.get("/api/v1/auth/session").status_code == 401
    missing = runner.invoke(args=["accounts", "end-sessions", "--username", "nobody.here"])
    assert missing.exit_code != 0
