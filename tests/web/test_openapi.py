"""The checked-in OpenAPI document is valid OpenAPI 3.1, is what the service serves, and
describes exactly the API routes the application has (no more, no fewer, same methods)."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.openapi_check import SPEC_PATH, operations, spec

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
