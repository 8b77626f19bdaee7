"""Request bodies as a real client sends them, through a real HTTP server (Werkzeug's, in a
thread): chunked bodies keep the size limit, only UTF-8 JSON is accepted; and a 405 says
which methods are allowed.

The test client hands the application a complete body with its length; a real client may send
it chunked, without `Content-Length`, which is where the size limit used to be lost.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app import migrate
from app.factory import create_app
from crypto.keys import KeyProvider
from tests.conftest import make_settings

CHALLENGE = "/api/v1/auth/challenge"
STAFF_LOGIN = "/api/v1/auth/staff/login"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server(tmp_path: Path, key_provider: KeyProvider) -> Iterator[tuple[str, int]]:
    """The application on its own SQLite database, served on a free loopback port."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    migrate.upgrade(url)
    app = create_app(make_settings(url, tmp_path), key_provider=key_provider)
    served = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", served.server_port
    served.shutdown()
    thread.join(timeout=10)


def _post(
    server: tuple[str, int], path: str, body: bytes | Iterator[bytes], *, chunked: bool = False
) -> tuple[int, dict[str, str], dict[str, object]]:
    connection = http.client.HTTPConnection(*server, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=JSON, encode_chunked=chunked)
        response = connection.getresponse()
        payload = json.loads(response.read())
        return response.status, dict(response.getheaders()), payload
    finally:
        connection.close()


def _blocks(total: int, block: int = 65536) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        size = min(block, total - sent)
        yield b"x" * size
        sent += size


@pytest.mark.parametrize("path", [CHALLENGE, STAFF_LOGIN])
def test_a_10_mb_chunked_body_is_too_large_not_malformed(
    server: tuple[str, int], path: str
) -> None:
    status, _, body = _post(server, path, _blocks(10 * 1024 * 1024), chunked=True)
    assert status == 413
    assert body["error"] == "request_entity_too_large"


def test_a_chunked_body_one_byte_over_the_limit_is_too_large(server: tuple[str, int]) -> None:
    status, _, _ = _post(server, CHALLENGE, _blocks(64 * 1024 + 1, block=1000), chunked=True)
    assert status == 413


def test_a_chunked_body_within_the_limit_is_read_whole(server: tuple[str, int]) -> None:
    """Sent in small chunks, as a streaming client would: the view sees the whole body."""
    text = json.dumps({"username": "demo-subject-1"}).encode()
    pieces = iter([text[i : i + 3] for i in range(0, len(text), 3)])
    status, _, body = _post(server, CHALLENGE, pieces, chunked=True)
    assert status == 200, body
    assert set(body) == {"challenge_id", "to_be_signed", "expires_at"}


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-16", "UTF-8 without a byte-order mark"),  # with its BOM
        ("utf-16-le", "not UTF-16 or UTF-32"),
        ("utf-32", "UTF-8 without a byte-order mark"),
        ("utf-8-sig", "UTF-8 without a byte-order mark"),
    ],
)
def test_json_in_another_encoding_is_refused_clearly(
    server: tuple[str, int], encoding: str, expected: str
) -> None:
    text = json.dumps({"username": "demo-subject-1"})
    status, _, body = _post(server, CHALLENGE, text.encode(encoding))
    assert status == 400
    assert body["error"] == "bad_request"
    assert expected in str(body["message"])
    # the same request in UTF-8 is accepted
    status, _, _ = _post(server, CHALLENGE, text.encode("utf-8"))
    assert status == 200


@pytest.mark.parametrize("path", [STAFF_LOGIN, "/api/v1/auth/login", "/api/v1/auth/login/mtls"])
def test_every_login_refuses_a_utf16_body_with_the_reason(client: FlaskClient, path: str) -> None:
    body = json.dumps({"username": "a", "password": "b"}).encode("utf-16")
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["message"]


def test_a_405_names_the_allowed_methods(client: FlaskClient) -> None:
    response = client.get(CHALLENGE)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"OPTIONS", "POST"}
    assert response.get_json()["error"] == "method_not_allowed"
    response = client.delete("/api/v1/self/consents")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    }
