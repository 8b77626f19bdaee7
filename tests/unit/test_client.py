"""`python -m app.client` against a small stand-in of the §5 login contract, with real cards.

The stand-in server implements the documented contract (challenge, login verifying password and
signature, the session cookie, whoami, logout) so that the client can be checked before and
independently of the real endpoints; tests/integration/test_card_walkthrough.py runs the client
against the live service. Cards are real SoftHSM2 tokens: this module owns cg-card-7 (EC) and
cg-card-8 (RSA).
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from app.client.cli import main
from hsm.card import CardToken
from tests.softhsm_fixtures import SoftHsmEnv

PASSWORD = "violet staple horse 42"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class StandIn:
    """State of the stand-in service: accounts (password, card public key), what it saw."""

    accounts: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    challenges: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)  # cookie -> (user, csrf)
    requests: list[str] = field(default_factory=list)
    signatures: list[bytes] = field(default_factory=list)
    url: str = ""

    def verified(self, username: str, data: bytes, signature: bytes) -> bool:
        key = load_der_public_key(self.accounts[username][1])
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                if len(signature) != 64:
                    return False
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            else:
                assert isinstance(key, rsa.RSAPublicKey)
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def _send(self, status: int, body: dict[str, object], cookie: str | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if cookie is not None:
                self.send_header(
                    "Set-Cookie",
                    f"__Host-cg_session={cookie}; Secure; HttpOnly; Path=/; SameSite=Strict",
                )
            self.end_headers()
            self.wfile.write(raw)

        def _session(self) -> tuple[str, tuple[str, str]] | None:
            cookie = (self.headers.get("Cookie") or "").removeprefix("__Host-cg_session=")
            found = state.sessions.get(cookie)
            return None if found is None else (cookie, found)

        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            live = self._session()
            if self.path != "/api/v1/auth/session" or live is None:
                self._send(401, {"error": "authentication_required", "message": "Log in first."})
                return
            user, csrf = live[1]
            self._send(
                200,
                {
                    "username": user,
                    "kind": "subject",
                    "roles": [],
                    "methods": ["card", "password"],
                    "csrf_token": csrf,
                },
            )

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            if self.path == "/api/v1/auth/challenge":
                challenge_id, tbs = secrets.token_urlsafe(32), os.urandom(90)
                state.challenges[challenge_id] = (body["username"], tbs)
                encoded = base64.urlsafe_b64encode(tbs).rstrip(b"=").decode()
                self._send(
                    200,
                    {"challenge_id": challenge_id, "to_be_signed": encoded, "expires_at": "soon"},
                )
            elif self.path == "/api/v1/auth/login":
                username, tbs = state.challenges.pop(body["challenge_id"], ("", b""))
                signature = base64.urlsafe_b64decode(body["signature"] + "==")
                state.signatures.append(signature)
                account = state.accounts.get(body["username"])
                if (
                    username != body["username"]
                    or account is None
                    or account[0] != body["password"]
                    or not state.verified(username, tbs, signature)
                ):
                    self._send(401, {"error": "login_failed", "message": "Login failed."})
                    return
                cookie = secrets.token_urlsafe(32)
                state.sessions[cookie] = (username, secrets.token_urlsafe(16))
                self._send(
                    200,
                    {"username": username, "kind": "subject", "methods": ["card", "password"]},
                    cookie,
                )
            elif self.path == "/api/v1/auth/logout":
                live = self._session()
                if live is None or self.headers.get("X-CSRF-Token") != live[1][1]:
                    self._send(403, {"error": "csrf_failed"})
                    return
                del state.sessions[live[0]]
                self._send(200, {"status": "logged_out"})

    return Handler


def _card_key(env: SoftHsmEnv, label: str, key_type: str) -> bytes:
    card = CardToken(env.module, label)
    existing = card.state(env.pin).public_key_der
    return existing if existing is not None else card.generate_key(env.pin, key_type)


@pytest.fixture(scope="module")
def service(softhsm_env: SoftHsmEnv) -> Iterator[StandIn]:
    state = StandIn()
    state.accounts["zhang.wei"] = (PASSWORD, _card_key(softhsm_env, "cg-card-7", "ec-p256"))
    state.accounts["li.na"] = (PASSWORD, _card_key(softhsm_env, "cg-card-8", "rsa-2048"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, softhsm_env: SoftHsmEnv) -> Path:
    monkeypatch.setenv("CREDITGATE_CLIENT_HOME", str(tmp_path / "client-home"))
    monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm_env.conf_path))
    return tmp_path / "client-home"


class Terminal:
    """Answers the client's no-echo prompts and keeps what it printed."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.out, self.err = io.StringIO(), io.StringIO()

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)

    def run(self, *argv: str) -> int:
        return main(list(argv), ask=self.ask, out=self.out, err=self.err)


def _login(env: SoftHsmEnv, service: StandIn, user: str, label: str) -> list[str]:
    where = ["--url", service.url, "--token-label", label, "--module", env.module]
    return ["login", "--username", user, *where]


def test_login_signs_on_the_card_keeps_a_private_session_and_whoami_and_logout_use_it(
    softhsm_env: SoftHsmEnv, service: StandIn, home: Path
) -> None:
    terminal = Terminal(PASSWORD, softhsm_env.pin)
    assert terminal.run(*_login(softhsm_env, service, "zhang.wei", "cg-card-7")) == 0
    assert terminal.out.getvalue() == "Logged in as zhang.wei (card+password).\n"
    assert terminal.prompts == ["Password for zhang.wei: ", "PIN for card cg-card-7: "]
    assert len(service.signatures[-1]) == 64  # raw r||s, verified by the stand-in
    session_file = home / "session"
    assert home.stat().st_mode & 0o777 == 0o700
    assert session_file.stat().st_mode & 0o777 == 0o600
    saved = session_file.read_text()
    assert service.url in saved
    assert PASSWORD not in saved
    assert softhsm_env.pin not in saved

    who = Terminal()
    assert who.run("whoami") == 0
    assert who.out.getvalue() == "zhang.wei (subject) logged in with card+password\n"
    bye = Terminal()
    assert bye.run("logout") == 0
    assert bye.out.getvalue() == "Logged out.\n"
    assert not service.sessions
    after = Terminal()
    assert after.run("whoami") == 1
    assert after.err.getvalue().startswith("Not logged in.")


def test_an_rsa_card_logs_in_too(softhsm_env: SoftHsmEnv, service: StandIn, home: Path) -> None:
    terminal = Terminal(PASSWORD, softhsm_env.pin)
    assert terminal.run(*_login(softhsm_env, service, "li.na", "cg-card-8")) == 0
    assert len(service.signatures[-1]) == 256


def test_a_wrong_pin_is_one_clear_line_and_exit_code_2(
    softhsm_env: SoftHsmEnv, service: StandIn, home: Path
) -> None:
    terminal = Terminal(PASSWORD, "0000-wrong")
    before = len(service.signatures)
    assert terminal.run(*_login(softhsm_env, service, "zhang.wei", "cg-card-7")) == 2
    assert terminal.err.getvalue() == "Wrong PIN for card 'cg-card-7'.\n"
    assert terminal.out.getvalue() == ""
    assert len(service.signatures) == before  # no login was attempted
    assert not (home / "session").exists()


def test_a_missing_card_is_reported_before_any_secret_is_asked(
    softhsm_env: SoftHsmEnv, service: StandIn, home: Path
) -> None:
    terminal = Terminal()
    sent = len(service.requests)
    assert terminal.run(*_login(softhsm_env, service, "zhang.wei", "no-card-here")) == 2
    assert terminal.err.getvalue() == "No card labelled 'no-card-here' is present.\n"
    assert terminal.prompts == []
    assert len(service.requests) == sent


def test_a_refused_login_says_login_failed_and_keeps_nothing(
    softhsm_env: SoftHsmEnv, service: StandIn, home: Path
) -> None:
    terminal = Terminal("not the password", softhsm_env.pin)
    assert terminal.run(*_login(softhsm_env, service, "zhang.wei", "cg-card-7")) == 1
    assert terminal.err.getvalue() == "Login failed.\n"
    assert not (home / "session").exists()


def test_a_session_ended_by_the_server_is_forgotten(
    softhsm_env: SoftHsmEnv, service: StandIn, home: Path
) -> None:
    assert (
        Terminal(PASSWORD, softhsm_env.pin).run(
            *_login(softhsm_env, service, "zhang.wei", "cg-card-7")
        )
        == 0
    )
    service.sessions.clear()  # e.g. the card was revoked
    who = Terminal()
    assert who.run("whoami") == 1
    assert who.err.getvalue() == "Your session has ended. Log in again.\n"
    assert not (home / "session").exists()


def test_no_password_goes_over_plain_http_to_another_machine_nor_to_nowhere(
    softhsm_env: SoftHsmEnv, home: Path
) -> None:
    remote = Terminal()
    argv = ["login", "--url", "http://203.0.113.7:8080", "--username", "zhang.wei"]
    assert remote.run(*argv, "--token-label", "cg-card-7", "--module", softhsm_env.module) == 1
    assert "use an https:// URL" in remote.err.getvalue()
    assert remote.prompts == []

    closed = Terminal(PASSWORD, softhsm_env.pin)
    argv = ["login", "--url", "http://127.0.0.1:9", "--username", "zhang.wei"]
    assert closed.run(*argv, "--token-label", "cg-card-7", "--module", softhsm_env.module) == 1
    assert closed.err.getvalue().startswith("Cannot reach http://127.0.0.1:9:")
    assert PASSWORD not in closed.err.getvalue()


def test_python_dash_m_app_client_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.client", "whoami"],
        cwd=ROOT,
        env={**os.environ, "CREDITGATE_CLIENT_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == "Not logged in. Run: python -m app.client login --help\n"
