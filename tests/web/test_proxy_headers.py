"""Headers from the proxy: the request id written into the query log is the service's own.

nginx sets `X-Request-Id` (its `$request_id`) and `X-Forwarded-Host` itself on every proxied
request, so whatever the client sent is replaced; the app believes a request id only from a
configured proxy address and never takes an address it names itself by from the request."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crypto.keys import KeyProvider
from tests.clocks import MovableClock
from tests.conftest import make_app, make_settings
from tests.nginx_conf import effective_headers, proxied_locations
from tests.services.report_helpers import Person, citizen_id, loan
from tests.web.self_helpers import client_for, entries, subject_account

TODAY = date(2026, 11, 21)
CHOSEN = "chosen-by-the-caller"
FORGED_HOST = "evil.example"


def _holder(app: Flask, clock: MovableClock) -> Any:
    clock.move_to_day(TODAY)
    person = Person(citizen_id(62), "周晓", (loan(date(2019, 1, 1)),))
    account, _ = subject_account(app, person, today=TODAY)
    return account


def test_a_request_id_a_caller_sends_never_reaches_the_query_log(
    app: Flask, clock: MovableClock
) -> None:
    client, _ = client_for(app, _holder(app, clock))
    response = client.get(
        "/api/v1/self/query-records",
        headers={"X-Request-Id": CHOSEN, "X-Forwarded-Host": FORGED_HOST},
    )
    assert response.status_code == 200
    [entry] = entries(app, "self:query_log:read")
    assert entry.request_id == response.headers["X-Request-Id"]
    assert entry.request_id != CHOSEN
    assert FORGED_HOST not in response.get_data(as_text=True)


def test_the_proxys_request_id_is_the_one_logged(
    database_url: str, key_provider: KeyProvider, clock: MovableClock, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, trusted_proxies=("10.0.0.0/8",))
    app = make_app(settings, key_provider=key_provider, clock=clock)
    client, _ = client_for(app, _holder(app, clock))
    proxy_id = "0123456789abcdef0123456789abcdef"  # nginx's $request_id: 32 hex digits
    response = client.get(
        "/api/v1/self/query-records",
        headers={"X-Request-Id": proxy_id},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    [entry] = entries(app, "self:query_log:read")
    assert entry.request_id == proxy_id == response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "headers",
    [{"Host": FORGED_HOST}, {"X-Forwarded-Host": FORGED_HOST, "X-Forwarded-Proto": "http"}],
)
def test_a_schema_names_the_pinned_public_url_whatever_host_is_sent(
    client: Any, headers: dict[str, str]
) -> None:
    schema = client.get("/api/v1/intake/schema/consent", headers=headers).get_json()
    assert schema["$id"].startswith("http://localhost/api/v1/intake/schema/consent")


def test_the_proxy_sets_the_request_id_and_forwarded_headers_itself() -> None:
    locations = proxied_locations()
    assert locations
    for server, location in locations:
        headers = effective_headers(server, location)
        assert headers.get("x-request-id") == "$request_id", location.args
        assert headers.get("x-forwarded-host") == "$host", location.args
        assert headers.get("x-forwarded-for") == "$remote_addr", location.args
        assert "x-ssl-client-cert" in headers, location.args
