"""The browser mTLS login in real headless Chromium, against gunicorn on a fresh var/ directory
with one `make run` demo card, behind a stand-in for nginx.

nginx (docs/nginx-mtls.conf) verifies the client certificate in the TLS handshake and forwards
it as `X-SSL-Client-Cert: $ssl_client_escaped_cert` with `X-Forwarded-For: $remote_addr`. The
stand-in is a small HTTP proxy thread on 127.0.0.1 that does exactly that for the certificate
read from the demo card with pkcs11-tool (what the browser's card middleware would present);
gunicorn trusts 127.0.0.1/32 as the proxy address. TLS itself is nginx's job, not tested here.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import expect, sync_playwright

from tests.integration.live import LiveServer, fresh_env, run_flask

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class Demo:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.var_dir = Path(env["CREDITGATE_VAR_DIR"])
        lines = (self.var_dir / "demo-credentials.txt").read_text().splitlines()
        (row,) = [line.split() for line in lines if line.startswith("demo-subject-")]
        self.username, self.password, self.card = row[0], row[1], row[2]
        self.certificate = self._read_card_certificate()

    def _read_card_certificate(self) -> bytes:
        """The certificate object on the card (public: no PIN needed), as DER."""
        done = subprocess.run(
            [
                "pkcs11-tool",
                "--module",
                "/usr/lib/softhsm/libsofthsm2.so",
                "--token-label",
                self.card,
                "--read-object",
                "--type",
                "cert",
                "--id",
                "01",
            ],
            env={**self.env, "SOFTHSM2_CONF": str(self.var_dir / "softhsm" / "softhsm2.conf")},
            capture_output=True,
            timeout=60,
            check=True,
        )
        return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    env = fresh_env(tmp_path_factory.mktemp("var"))
    for step in (
        ("hsm", "init"),
        ("db", "upgrade"),
        ("demo", "seed", "--subjects", "1", "--seed", "3", "--if-missing"),
        ("cards", "demo", "--count", "1"),
    ):
        run_flask(env, *step, check=True)
    return Demo(env)


@pytest.fixture(scope="module")
def app_server(demo: Demo) -> Iterator[int]:
    live = LiveServer({**demo.env, "CREDITGATE_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield live.port
    errors = live.stop()
    assert demo.password not in errors
    assert "BEGIN CERTIFICATE" not in errors


class StandInNginx:
    """Forwards every request to the app, adding the client certificate the way nginx does."""

    def __init__(self, upstream: int, certificate: bytes) -> None:
        pem = x509.load_der_x509_certificate(certificate).public_bytes(Encoding.PEM)
        #: `$ssl_client_escaped_cert`; None = the browser presented no card.
        self.escaped_cert: str | None = quote(pem.decode("ascii"), safe="")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            def do_POST(self) -> None:
                proxy.forward(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.upstream = upstream
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() != "x-ssl-client-cert"
        }
        headers["X-Forwarded-For"] = handler.client_address[0]
        if self.escaped_cert is not None:
            headers["X-SSL-Client-Cert"] = self.escaped_cert
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=30)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            handler.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(payload)
        finally:
            upstream.close()

    def __enter__(self) -> StandInNginx:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_a_browser_logs_in_with_card_and_password_through_the_proxy(
    demo: Demo, app_server: int, tmp_path: Path
) -> None:
    screenshot = tmp_path / "account.png"
    with (
        StandInNginx(app_server, demo.certificate) as nginx,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(f"{nginx.base}/login/card")
            expect(page.locator("#card-name")).to_have_text(demo.username)

            page.fill("#username", demo.username)
            page.fill("#password", "not the password")
            page.click("button[type=submit]")
            expect(page.locator("#login-message")).to_have_text("Login failed.")
            assert page.url == f"{nginx.base}/login/card"
            assert demo.password not in page.content()
            assert page.input_value("#password") == ""

            page.fill("#password", demo.password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{nginx.base}/account")
            expect(page.locator("#account-username")).to_have_text(demo.username)
            expect(page.locator("#account-methods")).to_have_text("card+password")
            assert demo.password not in page.content()
            page.screenshot(path=str(screenshot), full_page=True)

            page.click("form.logout button")
            page.wait_for_url(f"{nginx.base}/login/card")
            page.goto(f"{nginx.base}/account")
            assert page.url == f"{nginx.base}/login/card"  # the session is gone

            nginx.escaped_cert = None  # the browser did not present the card
            page.reload()
            expect(page.locator("#card-status")).to_contain_text("Your card was not presented.")
            assert page.locator("#card-name").count() == 0
        finally:
            browser.close()
    data = screenshot.read_bytes()
    assert len(data) > 1000
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
