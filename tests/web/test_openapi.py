"""The checked-in OpenAPI document is valid OpenAPI 3.1, is what the service serves, and
describes exactly the API routes the application has (no more, no fewer, same methods); and the
checker that validates every response of the suite refuses answers the document does not
describe."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.openapi_check import SPEC_PATH, check, operations, spec

_CONVERTER = re.compile(r"<(?:[a-z]+:)?(\w+)>")


def test_the_document_is_valid_openapi_3_1() -> None:
    document = spec()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_service_serves_the_checked_in_document(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def test_every_api_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    routed: dict[str, tuple[str, str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        assert len(methods) == 1, f"{rule.endpoint} answers {methods}: one method per endpoint"
        routed[rule.endpoint] = (_CONVERTER.sub(r"{\1}", rule.rule), methods[0].lower())
    documented = {op_id: (path, method) for op_id, (path, method, _) in operations().items()}
    assert sorted(set(routed) - set(documented)) == [], "routes missing from app/openapi.json"
    assert sorted(set(documented) - set(routed)) == [], "documented operations with no route"
    for endpoint, where in routed.items():
        assert documented[endpoint] == where, endpoint


def test_every_operation_documents_its_failures_and_a_summary() -> None:
    for op_id, (_, _, operation) in operations().items():
        assert operation.get("summary"), op_id
        assert "503" in operation["responses"] or op_id in {
            "catalog.catalog_index",
            "catalog.catalog_entry",
            "openapi.openapi_document",
        }, f"{op_id} does not document the fail-closed 503"


def test_every_operation_with_a_body_documents_bad_input_and_oversized_bodies() -> None:
    for op_id, (_, _, operation) in operations().items():
        if "requestBody" in operation:
            assert {"400", "413"} <= set(operation["responses"]), op_id


def test_every_session_operation_that_changes_state_documents_csrf_and_login_refusals() -> None:
    for op_id, (_, method, operation) in operations().items():
        security = operation.get("security", spec()["security"])
        if method == "post" and {"session": []} in security:
            assert {"401", "403"} <= set(operation["responses"]), op_id


def _answer(app: Flask, status: int, body: object, headers: dict[str, str] | None = None) -> Any:
    if isinstance(body, bytes):
        return app.response_class(body, status=status, headers=headers, mimetype="text/plain")
    return app.response_class(json.dumps(body), status, headers, mimetype="application/json")


_ORDER = {
    "id": "7b0c0a3e-8d53-4b8e-9d1e-4c1b1a7e5f00",
    "kind": "archive_report",
    "status": "pending",
    "fee_fen": 1000,
    "created_at": "2025-01-02T03:04:05+00:00",
    "paid_at": None,
    "paid_via": None,
    "available_until": None,
    "redeemed_at": None,
    "expires_at": None,
    "refunded_at": None,
}
_ID = {"X-Request-Id": "r-1"}
_PATH = f"/api/v1/self/orders/{_ORDER['id']}"


def test_the_checker_accepts_a_documented_answer(app: Flask) -> None:
    check(app, "GET", _PATH, _answer(app, 200, {"order": _ORDER}, _ID))


@pytest.mark.parametrize(
    ("status", "body", "headers", "complaint"),
    [
        (418, {"error": "teapot", "message": "no"}, _ID, "not a documented status"),
        (200, {"order": {**_ORDER, "status": "lost"}}, _ID, "is not one of"),
        (200, {"order": {**_ORDER, "created_at": "yesterday"}}, _ID, "is not a 'date-time'"),
        (200, {"order": {**_ORDER, "subject_bidx": "00"}}, _ID, "Additional properties"),
        (200, b"<html>order</html>", _ID, "body is not JSON"),
        (200, {"order": _ORDER}, {}, "required header X-Request-Id"),
        (503, {"error": "service_unavailable", "message": "x"}, _ID, "header Retry-After"),
    ],
)
def test_the_checker_refuses_an_answer_the_document_does_not_describe(
    app: Flask, status: int, body: object, headers: dict[str, str], complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check(app, "GET", _PATH, _answer(app, status, body, headers))
