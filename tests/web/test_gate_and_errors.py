"""The web layer: deny by default, security headers, fail closed, no internals in errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from app import migrate
from app.container import container
from app.services.policy import Action
from app.web.gate import bound_to, is_public, public
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.fakes import InMemoryKeyProvider

#: Every endpoint that may answer without a login, reviewed by hand. Adding a public view
#: means adding it here, in the same change.
REVIEWED_PUBLIC = {
    "home.index",
    "health.healthz",
    "health.readyz",
    "catalog.catalog_index",
    "catalog.catalog_entry",
    "openapi.openapi_document",  # the API description (no data)
    "static",
    # Logins: they establish the session, so they cannot require one.
    "auth_card.challenge",
    "auth_card.login",
    "auth_card.login_mtls",
    "browser.card_page",  # the mTLS password form (names the presented card, nothing else)
    "browser.card_login",
    "auth_staff.staff_login",
    "staff_pages.login_page",  # the staff password + code form (names a presented card)
    "staff_pages.login",
    # A lost card is reported with the password alone: the card is what is missing.
    "registry.report_lost",
    "card_pages.lost_form",
    "card_pages.report_lost",
    # OAuth: the client authenticates each request itself (private_key_jwt, bearer token).
    "oauth.token",
    "oauth.revoke",
    "oauth.whoami",
    "billing.own_ledger",  # bearer token
    "institution_reports.query",  # bearer token
    "government.query",  # bearer token (government scope)
    "intake.submit",  # bearer token (provider scope)
    "intake.batch",  # bearer token (provider scope)
    "intake.schema",  # the unified format per record type (no data)
    "statistics.government",  # bearer token (statistics scope)
    "objections.for_provider",  # bearer token (provider scope)
    "objections.for_institution",  # bearer token (institution:report:query scope)
    # The payment provider signs each notification (HMAC); it has no session.
    "billing.payment_notification",
    # Anyone checks whether a PDF report or a paper copy's reference is genuine: the answer
    # is valid / not valid and the issue time, never contents; bounded per address and logged.
    "report_verification.verify_api",
    "report_verification.verify_page",
    "report_verification.verify_form",
}


def test_only_reviewed_endpoints_are_public(app: Flask) -> None:
    public = {rule.endpoint for rule in app.url_map.iter_rules() if is_public(app, rule.endpoint)}
    assert public == REVIEWED_PUBLIC


def test_an_endpoint_added_without_a_decision_is_closed(app: Flask) -> None:
    @app.get("/api/v1/forgotten")
    def forgotten() -> str:
        return "record data"

    response = app.test_client().get("/api/v1/forgotten")
    assert response.status_code == 500
    assert b"record data" not in response.data
    assert response.get_json()["error"] == "unbound_route"


def test_a_bound_endpoint_without_public_still_needs_a_login(app: Flask) -> None:
    from app.services.policy import Action
    from app.web.gate import bound_to

    @app.get("/api/v1/forgotten")
    @bound_to(Action.SELF_REPORT_READ)
    def forgotten() -> str:
        return "record data"

    response = app.test_client().get("/api/v1/forgotten")
    assert response.status_code == 401
    assert b"record data" not in response.data
    assert response.get_json()["error"] == "authentication_required"


def test_security_headers_are_on_every_response(client: FlaskClient) -> None:
    for path in ("/", "/healthz", "/api/v1/catalog", "/no-such-page"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert client.get("/api/v1/catalog").headers["Cache-Control"] == "no-store"


def test_unknown_paths_answer_json_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_oversized_bodies_are_refused_before_any_view_reads_them(app: Flask) -> None:
    @app.post("/api/v1/echo-length")
    @bound_to(Action.SERVICE_HEALTH_READ)
    @public
    def echo_length() -> dict[str, int]:
        return {"length": len(request.get_data())}

    client = app.test_client()
    assert client.post("/api/v1/echo-length", data=b"x" * 1000).get_json() == {"length": 1000}
    response = client.post("/api/v1/echo-length", data=b"x" * (65 * 1024))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert b"xxxx" not in response.data


def test_ready_when_database_and_hsm_answer(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_a_dead_hsm_makes_readiness_fail_closed(database_url: str, tmp_path: Path) -> None:
    provider = InMemoryKeyProvider()
    app = make_app(make_settings(database_url, tmp_path), key_provider=provider)
    provider.down = True
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "service_unavailable",
        "message": "The service cannot answer safely right now; nothing was disclosed.",
    }
    assert response.headers["Retry-After"] == "30"


def test_a_token_without_the_master_key_is_not_ready(database_url: str, tmp_path: Path) -> None:
    provider = InMemoryKeyProvider()
    provider._aes.clear()  # the HMAC key answers, the master wrapping key is gone
    app = make_app(make_settings(database_url, tmp_path), key_provider=provider)
    assert app.test_client().get("/readyz").status_code == 503


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_schema_behind_the_migration_head_is_not_ready(
    scratch_database: ScratchDatabase, tmp_path: Path
) -> None:
    migrate.upgrade(scratch_database.url, "0001")
    app = make_app(
        make_settings(scratch_database.url, tmp_path), key_provider=InMemoryKeyProvider()
    )
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    migrate.upgrade(scratch_database.url)
    assert client.get("/readyz").status_code == 200
    container(app).engine.dispose()


def test_a_wrong_pin_on_the_real_token_fails_closed_without_the_pin(
    database_url: str,
    tmp_path: Path,
    softhsm_env,  # type: ignore[no-untyped-def]
) -> None:
    provider = softhsm_env.provider(pin="wrong-pin-314159")
    app = make_app(make_settings(database_url, tmp_path), key_provider=provider)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert b"314159" not in response.data
    provider.close()


def test_an_unreachable_database_fails_closed(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", tmp_path)
    app = make_app(settings, key_provider=InMemoryKeyProvider())
    response = app.test_client().get("/readyz")
    container(app).engine.dispose()
    assert response.status_code == 503
    assert "missing-dir" not in response.get_data(as_text=True)


def test_a_closed_page_outside_the_api_redirects_a_browser_to_the_login_page(app: Flask) -> None:
    @app.get("/forgotten-page")
    @bound_to(Action.AUTH_SESSION_READ)
    def forgotten_page() -> str:
        return "record data"

    response = app.test_client().get("/forgotten-page")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/card"
    assert b"record data" not in response.data
