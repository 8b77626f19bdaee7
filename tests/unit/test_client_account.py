"""The client's own-account commands against the scripted stand-in: sessions, end-session and
password ask secrets without echo, send them only in the body, and print none of them."""

from __future__ import annotations

from app.client import store
from tests.unit.client_standin import StandIn, Terminal, standin

__all__ = ["standin"]

SESSIONS = {
    "sessions": [
        {
            "handle": "0123456789abcdef",
            "started_at": "2026-12-05T06:00:00+00:00",
            "last_seen_at": "2026-12-05T06:10:00+00:00",
            "expires_at": "2026-12-05T18:00:00+00:00",
            "methods": ["card", "password"],
            "current": True,
        },
        {
            "handle": "fedcba9876543210",
            "started_at": "2026-12-04T20:00:00+00:00",
            "last_seen_at": "2026-12-04T20:05:00+00:00",
            "expires_at": "2026-12-05T08:00:00+00:00",
            "methods": ["card", "password"],
            "current": False,
        },
    ]
}


def test_sessions_lists_handles_and_marks_this_one(standin: StandIn) -> None:
    standin.on("GET", "/api/v1/auth/sessions", 200, SESSIONS)
    terminal = Terminal()
    assert terminal.run("sessions") == 0
    text = terminal.out.getvalue()
    assert "0123456789abcdef" in text
    assert "(this session)" in text
    assert "2 live session(s)" in text


def test_end_session_asks_the_password_again(standin: StandIn) -> None:
    standin.on("POST", "/api/v1/auth/sessions/fedcba9876543210/end", 200, {"status": "ended"})
    terminal = Terminal("my secret password 1")
    assert terminal.run("end-session", "fedcba9876543210") == 0
    sent = standin.last("POST", "/api/v1/auth/sessions/fedcba9876543210/end")
    assert sent.body == {"password": "my secret password 1"}
    assert terminal.prompts == ["Your password: "]
    assert "my secret password 1" not in terminal.out.getvalue() + terminal.err.getvalue()


def test_password_change_sends_both_and_prints_neither(standin: StandIn) -> None:
    standin.on("POST", "/api/v1/auth/password", 200, {"status": "changed", "csrf_token": "x"})
    terminal = Terminal("old pass phrase 11", "new pass phrase 22", "new pass phrase 22")
    assert terminal.run("password") == 0
    sent = standin.last("POST", "/api/v1/auth/password")
    assert sent.body == {
        "current_password": "old pass phrase 11",
        "new_password": "new pass phrase 22",
    }
    printed = terminal.out.getvalue() + terminal.err.getvalue()
    assert "pass phrase" not in printed
    assert "Log in again" in printed  # the stand-in hands back no new cookie
    assert store.load() is None


def test_password_change_refusals_are_one_line_and_change_nothing(standin: StandIn) -> None:
    terminal = Terminal("old pass phrase 11", "new one", "another")
    assert terminal.run("password") == 1
    assert "differ" in terminal.err.getvalue()
    assert not [s for s in standin.seen if s.path == "/api/v1/auth/password"]
    standin.on(
        "POST",
        "/api/v1/auth/password",
        400,
        {"error": "password_refused", "reasons": ["Choose a password of at least 12 characters."]},
    )
    weak = Terminal("old pass phrase 11", "short", "short")
    assert weak.run("password") == 1
    assert "at least 12 characters" in weak.err.getvalue()
