"""Anonymous work is bounded: readiness asks the HSM at most once per interval per process,
and the proxy rate-limits per address what anyone may call without an account."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app.services.health import HsmProbe
from tests.conftest import make_app, make_settings
from tests.fakes import InMemoryKeyProvider
from tests.nginx_conf import parse, servers


class CountingProvider(InMemoryKeyProvider):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def hmac_sha256(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
        self.calls += 1
        return super().hmac_sha256(*args, **kwargs)  # type: ignore[arg-type]


def test_many_anonymous_readiness_calls_ask_the_hsm_once(database_url: str, tmp_path: Path) -> None:
    provider = CountingProvider()
    app = make_app(make_settings(database_url, tmp_path), key_provider=provider)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    after_one = provider.calls
    assert after_one > 0
    assert all(client.get("/readyz").status_code == 200 for _ in range(20))
    assert provider.calls == after_one


def test_a_failed_probe_is_remembered_briefly_then_tried_again() -> None:
    provider = InMemoryKeyProvider()
    now = [0.0]
    probe = HsmProbe(provider, clock=lambda: now[0])
    provider.down = True
    for _ in range(3):
        with pytest.raises(Exception) as refused:  # noqa: PT011 - the first is the HSM's own error
            probe.check()
        assert refused.value is not None
    assert probe.probes == 1
    provider.down = False
    now[0] = 6.0
    probe.check()
    assert probe.probes == 2
    now[0] = 30.0
    probe.check()
    assert probe.probes == 2  # a success holds for 30 s


def _zones() -> dict[str, tuple[str, ...]]:
    return {
        args[1].split("=", 1)[1].split(":")[0]: args for args in parse().values("limit_req_zone")
    }


def _tls_servers() -> list:  # type: ignore[type-arg]
    return [s for s in servers() if any("ssl" in args for args in s.values("listen"))]


def test_the_proxy_limits_logins_tokens_and_anonymous_checks_per_address() -> None:
    zones = _zones()
    assert all(args[0] == "$binary_remote_addr" for args in zones.values())  # per address
    assert parse().values("limit_req_status") == [("429",)]
    wanted = {
        "/api/v1/auth/": "creditgate_auth",
        "/login/": "creditgate_auth",
        "/api/v1/oauth/": "creditgate_oauth",
        "/api/v1/billing/payment-notifications": "creditgate_notify",
        "/api/v1/report-verifications": "creditgate_anonymous",
    }
    for server in _tls_servers():
        by_path = {location.args[-1]: location for location in server.blocks("location")}
        for path, zone in wanted.items():
            [limit] = by_path[path].values("limit_req")
            assert limit[0] == f"zone={zone}", (path, limit)
            assert zone in zones


def test_payment_notices_come_only_from_the_provider_and_readiness_from_monitoring() -> None:
    for server in _tls_servers():
        by_path = {location.args[-1]: location for location in server.blocks("location")}
        for path in ("/api/v1/billing/payment-notifications", "/readyz"):
            assert by_path[path].values("allow"), path
            assert by_path[path].values("deny") == [("all",)], path


def test_readiness_answers_from_memory_inside_a_request(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/readyz")
    second = client.get("/readyz")
    assert first.status_code == second.status_code == 200
