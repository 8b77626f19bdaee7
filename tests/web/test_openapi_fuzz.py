"""Fuzzing every operation of the OpenAPI document from its own schemas.

For each operation, Hypothesis draws requests that the document says are valid (path and query
parameters and the body, from their schemas: tests/openapi_strategies.py) and sends them as the
caller the operation is for: nobody, a subject (password + card), a cashier (password + TOTP +
card), a compliance officer (password + TOTP: the log's review) or an institution (bearer
token). Every response must be documented and match its schema (the suite's `ValidatingClient`
checks each one) and none may be a 5xx. A second walk
sets one member of each JSON body to a value of any type. The examples are bounded and
derandomised (`EXAMPLES` per operation, the same ones every run), so each walk takes seconds
per backend and a failure reproduces.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import openapi_check
from tests.logins import logged_in, make_account
from tests.openapi_strategies import inline, values
from tests.pdf.helpers import chain_for
from tests.services.report_helpers import Person, citizen_id
from tests.web.oauth_helpers import ALL_SCOPES, ec_key, get_token, register
from tests.web.self_helpers import subject_account

EXAMPLES = 25
#: the fuzzing client holds the government scope too, so the agencies' operation is reached
FUZZ_SCOPES = (*ALL_SCOPES, "government:report:query")
_people = itertools.count(500)


def _schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return values(schema)


@dataclass(frozen=True)
class Drawn:
    path: str
    query: dict[str, Any]
    body: Any
    content_type: str | None


#: Any JSON value, to put where the document expects something else.
ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _mutated(body: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid body with one member (present or not) set to any JSON value: mostly invalid."""

    @st.composite
    def draw(draw_: st.DrawFn) -> Any:
        valid = draw_(body)
        if not isinstance(valid, dict):
            return draw_(ANY_JSON)
        name = draw_(st.sampled_from(sorted(valid)) | st.text(max_size=8)) if valid else "x"
        return {**valid, name: draw_(ANY_JSON)}

    return draw()


def _request(
    path: str, operation: dict[str, Any], *, invalid_body: bool = False
) -> st.SearchStrategy[Drawn]:
    """Requests the document calls valid for this operation (with `invalid_body`, the same with
    the JSON body's members mutated into values of any type)."""
    parameters = [inline(p) for p in operation.get("parameters", [])]
    in_path = {p["name"]: _schema(p["schema"]) for p in parameters if p["in"] == "path"}
    in_query = {p["name"]: _schema(p["schema"]) for p in parameters if p["in"] == "query"}
    optional = {p["name"] for p in parameters if p["in"] == "query" and not p.get("required")}
    content = operation.get("requestBody", {}).get("content", {})
    content_type = next(iter(content), None)
    body: st.SearchStrategy[Any] = (
        st.none() if content_type is None else _schema(content[content_type]["schema"])
    )
    if invalid_body and content_type == "application/json":
        body = _mutated(body)

    @st.composite
    def draw(draw_: st.DrawFn) -> Drawn:
        concrete = path
        for name, strategy in in_path.items():
            concrete = concrete.replace("{" + name + "}", quote(str(draw_(strategy)), safe=""))
        query = {}
        for name, strategy in in_query.items():
            if name in optional and draw_(st.booleans()):
                continue
            query[name] = draw_(strategy)
        return Drawn(concrete, query, draw_(body), content_type)

    return draw()


@dataclass(frozen=True)
class Caller:
    client: FlaskClient
    headers: dict[str, str]


def _caller_for(app: Flask, operation_id: str, operation: dict[str, Any], bearer: str) -> Caller:
    """A fresh caller of the kind the operation is for (a fresh session: a logout ends one)."""
    schemes = {name for item in operation.get("security", []) for name in item}
    if "bearer" in schemes:
        return Caller(app.test_client(), {"Authorization": f"Bearer {bearer}"})
    if "session" not in schemes:
        return Caller(app.test_client(), {})
    registrar = operation_id in {
        "objections.desk",
        "objections.resolve",
        "objections.escalate",
    } or (operation_id in {"repairs.desk", "repairs.evidence", "repairs.approve", "repairs.refuse"})
    staff = registrar or operation_id.startswith(("billing.", "auth_staff.", "step_up."))
    if operation_id.startswith(("review_log.", "review_cases.")):  # the log's review: officers
        name = f"o{uuid.uuid4().hex[:10]}"
        account = make_account(app, name, kind="staff", roles=("compliance",))
        methods = frozenset({"password", "totp"})
    elif staff:
        role = "registrar" if registrar else "cashier"
        account = make_account(app, f"c{uuid.uuid4().hex[:10]}", kind="staff", roles=(role,))
        methods = frozenset({"password", "totp", "card"})
    else:
        person = Person(citizen_id(next(_people)), "林知秋")
        account, _ = subject_account(app, person, today=date.today())
        methods = frozenset({"password", "card"})
    client, csrf = logged_in(app, account, methods)
    return Caller(client, {"X-CSRF-Token": csrf})


def _send(caller: Caller, method: str, drawn: Drawn) -> int:
    kwargs: dict[str, Any] = {"query_string": drawn.query, "headers": caller.headers}
    if drawn.content_type == "application/json":
        kwargs["data"] = json.dumps(drawn.body)
        kwargs["content_type"] = drawn.content_type
    elif drawn.content_type == "application/x-www-form-urlencoded":
        kwargs["data"] = {key: str(value) for key, value in drawn.body.items()}
    response = caller.client.open(drawn.path, method=method.upper(), **kwargs)
    return response.status_code


def _fuzz(
    caller: Caller,
    method: str,
    path: str,
    operation: dict[str, Any],
    examples: int,
    *,
    invalid_body: bool = False,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_request(path, operation, invalid_body=invalid_body))
    def fuzz(drawn: Drawn) -> None:
        status = _send(caller, method, drawn)  # the response is checked against the document
        assert status < 500, f"{method.upper()} {drawn.path} answered {status}"

    fuzz()


def test_every_operation_answers_documented_valid_requests_without_a_5xx(app: Flask) -> None:
    chain_for(app)  # the report CA, as `make run` sets it up: a report may be asked as PDF
    key = ec_key()
    bearer = get_token(app.test_client(), key, register(app, key, FUZZ_SCOPES))
    fuzzed = []
    for operation_id, (path, method, operation) in sorted(openapi_check.operations().items()):
        caller = _caller_for(app, operation_id, operation, bearer)
        _fuzz(caller, method, path, operation, EXAMPLES)
        fuzzed.append(operation_id)
    assert len(fuzzed) == len(openapi_check.operations())


def test_every_operation_answers_mistyped_json_members_without_a_5xx(app: Flask) -> None:
    """The same walk with one member of each JSON body set to a value of any type (an object
    where a string belongs, a list, a number...): a clear, documented 4xx, never a 5xx."""
    chain_for(app)
    key = ec_key()
    bearer = get_token(app.test_client(), key, register(app, key, FUZZ_SCOPES))
    for operation_id, (path, method, operation) in sorted(openapi_check.operations().items()):
        if "requestBody" not in operation:
            continue
        caller = _caller_for(app, operation_id, operation, bearer)
        _fuzz(caller, method, path, operation, EXAMPLES, invalid_body=True)
