"""Every response the suite receives from an `/api/` route is validated against the checked-in
OpenAPI 3.1 document (`app/openapi.json`).

`ValidatingClient` replaces Flask's test client for the whole run (see tests/conftest.py). For
each response to a route of the real application it checks that the operation is documented
(operationId = Flask endpoint), that the status code is documented for it, that a response
documented as JSON is JSON and matches the documented schema (JSON Schema 2020-12, formats
`uuid`, `date`, `date-time` asserted), that a file is sent only where its media type is documented,
that a response documented without a body sends no JSON,
and that every header the document marks required is present. Routes a test registers for
itself (not in the real application) and paths the router does not know (404/405) are checked
against the generic error schema only, and so are routes the app's side does not offer (that
side's served document leaves them out: policies/data/sides.toml). A mismatch fails the test
that made the request.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from werkzeug.exceptions import HTTPException
from werkzeug.test import TestResponse

SPEC_PATH = Path(__file__).resolve().parent.parent / "app" / "openapi.json"
SPEC_URI = "urn:creditgate:openapi"
validated: Counter[str] = Counter()


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=_dialect())
    return Registry().with_resource(SPEC_URI, resource)


def _dialect() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


@cache
def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (path, method, operation)."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                found[operation["operationId"]] = (path, method, operation)
    return found


@cache
def real_endpoints() -> frozenset[str]:
    """Endpoints of the application as built by the factory (no test-registered routes)."""
    from app.web import register_web

    shell = Flask("openapi-probe")
    register_web_routes_only(shell, register_web)
    return frozenset(rule.endpoint for rule in shell.url_map.iter_rules())


def register_web_routes_only(shell: Flask, register_web: Any) -> None:
    shell.extensions["creditgate"] = None
    register_web(shell)


def _validate(schema: dict[str, Any], body: Any, where: str) -> None:
    validator = Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise AssertionError(
            f"OpenAPI: {where}: {first.message} at {'/'.join(map(str, first.path)) or '(root)'}"
        )


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}


def check(app: Flask, method: str, path: str, response: TestResponse) -> None:
    if not path.startswith("/api/"):
        return
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except HTTPException:
        endpoint = None
    body = response.get_json(silent=True) if response.is_json else None
    if endpoint is None or endpoint not in real_endpoints() or not _offered(app, endpoint):
        if response.status_code >= 400 and body is not None:
            _validate(_ref("Error"), body, f"{method} {path} -> {response.status_code}")
            validated["unrouted"] += 1
        return
    if endpoint not in operations():
        raise AssertionError(f"OpenAPI: endpoint {endpoint} ({method} {path}) is not documented")
    doc_path, doc_method, operation = operations()[endpoint]
    where = f"{doc_method.upper()} {doc_path} -> {response.status_code}"
    if doc_method != method.lower():
        raise AssertionError(f"OpenAPI: {endpoint} is documented as {doc_method.upper()}")
    responses = operation["responses"]
    documented = responses.get(str(response.status_code)) or responses.get("default")
    if documented is None:
        raise AssertionError(f"OpenAPI: {where} is not a documented status")
    if "$ref" in documented:
        documented = _resolve(documented["$ref"])
    content = documented.get("content", {})
    if response.mimetype != "application/json" and response.mimetype in content:
        pass  # a documented file (a signed PDF): its bytes have no JSON schema
    elif "application/json" in content:
        if body is None:
            raise AssertionError(f"OpenAPI: {where} documents JSON but the body is not JSON")
        schema = content["application/json"]["schema"]
        _validate(_absolute(schema), body, where)
    elif response.is_json:
        raise AssertionError(f"OpenAPI: {where} sends JSON but documents no JSON body")
    for name, header in documented.get("headers", {}).items():
        if "$ref" in header:
            header = _resolve(header["$ref"])
        if header.get("required") and name not in response.headers:
            raise AssertionError(f"OpenAPI: {where} lacks the required header {name}")
    validated[endpoint] += 1


def _offered(app: Flask, endpoint: str) -> bool:
    """True unless the app runs as a side that does not offer the endpoint's action."""
    from app.services.sides import serves
    from app.web.gate import action_of

    parts = app.extensions.get("creditgate")
    action = action_of(app, endpoint)
    return parts is None or action is None or serves(parts.settings.side.value, action)


def _resolve(ref: str) -> dict[str, Any]:
    node: Any = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    resolved: dict[str, Any] = node
    return resolved


def _absolute(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite local `#/…` references so that they resolve inside the registered document."""
    text = json.dumps(schema).replace('"#/', f'"{SPEC_URI}#/')
    rewritten: dict[str, Any] = json.loads(text)
    return rewritten


class ValidatingClient(FlaskClient):
    def open(self, *args: Any, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        response = super().open(*args, **kwargs)
        request = response.request
        check(self.application, request.method, request.path, response)
        return response
