"""Security events reach stdout as one JSON line each, with UTC time, the request id, an event
type and a reason code, and never the secret that was refused."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask

from tests.logins import logged_in, make_account
from tests.web.test_card_login import card_login, enrolled_subject

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _events(capsys: pytest.CaptureFixture[str], event: str) -> list[dict[str, Any]]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    found = [json.loads(line) for line in lines]
    return [entry for entry in found if entry.get("event") == event]


def _check(entry: dict[str, Any], response: Any, reason: str) -> None:
    assert UTC_TIME.match(entry["time"]), entry
    assert entry["request_id"] == response.headers["X-Request-Id"]
    assert entry["reason"] == reason
    assert entry["status"] == response.status_code
    assert entry["logger"] == "creditgate.security"


def test_a_refused_bearer_token_is_an_event_without_the_token(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    forged = "forged-token-value-4711"
    response = app.test_client().get(
        "/api/v1/institution/whoami", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    out = capsys.readouterr().out
    assert forged not in out
    [entry] = [json.loads(x) for x in out.splitlines() if '"bearer.refused"' in x]
    _check(entry, response, "invalid_token")
    assert entry["path"] == "/api/v1/institution/whoami"


def test_a_csrf_failure_is_an_event(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    account = make_account(app, "csrf.victim")
    client, csrf = logged_in(app, account, frozenset({"password", "card"}))
    capsys.readouterr()
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403
    [entry] = _events(capsys, "csrf.failed")
    _check(entry, response, "wrong_token")
    assert csrf not in json.dumps(entry)


def test_the_gates_401_is_an_event(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = app.test_client().get("/api/v1/self/query-records")
    assert response.status_code == 401
    [entry] = _events(capsys, "authn.required")
    _check(entry, response, "no_session")


def test_a_failed_login_is_an_event_without_the_password(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = enrolled_subject(app, "event.login")
    capsys.readouterr()
    response = card_login(app.test_client(), holder, password="Wrong-Guess-2931!")
    assert response.status_code == 401
    out = capsys.readouterr().out
    assert "Wrong-Guess-2931!" not in out
    [entry] = [json.loads(x) for x in out.splitlines() if '"authn.failed"' in x]
    _check(entry, response, "login_failed")


def test_a_403_from_a_view_is_an_access_denied_event(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    account = make_account(app, "not.staff")
    client, _ = logged_in(app, account, frozenset({"password", "card"}))
    capsys.readouterr()
    response = client.get("/api/v1/review/list-changes")
    assert response.status_code == 403
    [entry] = _events(capsys, "access.denied")
    _check(entry, response, response.get_json()["error"])


def test_log_lines_go_to_stderr_while_a_command_runs(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command's stdout (a PEM redirected to a file, a client id a script reads) stays its
    own; served requests log to stdout."""
    import logging

    import click

    log = logging.getLogger("creditgate.test")
    capsys.readouterr()
    with click.Context(click.Command("demo")):
        log.warning("during a command")
    log.warning("outside a command")
    captured = capsys.readouterr()
    assert "during a command" in captured.err
    assert "during a command" not in captured.out
    assert "outside a command" in captured.out
