"""A scripted stand-in of the CreditGate API for the client's unit tests: each route answers
what the test says, and every request is kept (method, path, headers, JSON body) so a test can
check what the client sent — and that it never sent or printed what it must not."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.client import store
from app.client.cli import main

COOKIE = "cookie-Zx81-never-printed"
CSRF = "csrf-Qw77-never-printed"
SUBJECT_REF = "0b5e2f4c-8a51-4f0e-9d3e-6d1b2a7c9e01"
#: A route's answer: (status, JSON object), or (status, bytes) for a PDF.
Handler = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | bytes]]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    url: str = ""
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    session: dict[str, Any] = field(
        default_factory=lambda: {
            "username": "zhang.wei",
            "kind": "subject",
            "methods": ["card", "password"],
            "csrf_token": CSRF,
            "subject_ref": SUBJECT_REF,
        }
    )

    def on(self, method: str, path: str, status: int, body: dict[str, Any] | bytes) -> None:
        self.routes[(method, path)] = lambda _sent: (status, body)

    def handle(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def last(self, method: str, path: str) -> Seen:
        return [s for s in self.seen if s.method == method and s.path == path][-1]


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            multipart = (self.headers.get("Content-Type") or "").startswith("multipart/")
            sent = raw if multipart else json.loads(raw) if raw else None
            state.seen.append(
                Seen(method, self.path, {k.lower(): v for k, v in self.headers.items()}, sent)
            )
            status, body = 404, {"error": "not_found", "message": "Not found."}
            if self.headers.get("Cookie") != f"{store.COOKIE_NAME}={COOKIE}":
                status, body = 401, {"error": "unauthenticated", "message": "Log in first."}
            elif method == "POST" and self.headers.get("X-CSRF-Token") != CSRF:
                status, body = 403, {"error": "csrf_failed", "message": "CSRF token missing."}
            elif (method, self.path) == ("GET", "/api/v1/auth/session"):
                status, body = 200, state.session
            elif (method, self.path) in state.routes:
                status, body = state.routes[(method, self.path)](sent)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            kind = "application/pdf" if isinstance(body, bytes) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in, with the client logged in to it (a saved session in a private home)."""
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CREDITGATE_CLIENT_HOME", str(tmp_path / "client-home"))
    store.save(store.SavedSession(origin=state.url, cookie=COOKIE))
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


class Terminal:
    """Runs the client, answers its no-echo prompts and keeps what it printed."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.out, self.err = io.StringIO(), io.StringIO()

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)

    def run(self, *argv: str) -> int:
        code = main(list(argv), ask=self.ask, out=self.out, err=self.err)
        printed = self.out.getvalue() + self.err.getvalue()
        assert COOKIE not in printed
        assert CSRF not in printed
        return code
