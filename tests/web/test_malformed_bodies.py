"""Bodies no client should send get a clear 4xx on every endpoint, never a 5xx.

The URL map is walked, so an endpoint added later is covered without anyone remembering to.
Each body is posted by every kind of caller (nobody, a subject with password + card, a cashier
with password + TOTP + card, an institution with a bearer token), so the check reaches the
parsing of each view and not only the gate in front of it.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.container import container
from app.services.billing.payments import sign
from tests.logins import logged_in, make_account
from tests.services.report_helpers import Person, citizen_id
from tests.web.oauth_helpers import ec_key, get_token, register
from tests.web.self_helpers import subject_account

#: About 1,000 levels of nesting in 2 KB: deeper than Python's recursion limit allows to parse.
DEEPLY_NESTED = "[" * 1000 + "]" * 1000
UNSAFE = {"POST", "PUT", "PATCH"}
_sequence = itertools.count(1)


@dataclass(frozen=True)
class Caller:
    name: str
    client: FlaskClient
    headers: dict[str, str]


def _callers(app: Flask) -> list[Caller]:
    person = Person(citizen_id(next(_sequence)), "林知秋")
    subject, _ = subject_account(app, person, today=date.today())
    subject_client, subject_csrf = logged_in(app, subject, frozenset({"password", "card"}))
    staff = make_account(app, f"c{uuid.uuid4().hex[:10]}", kind="staff", roles=("cashier",))
    staff_client, staff_csrf = logged_in(app, staff, frozenset({"password", "totp", "card"}))
    key = ec_key()
    bearer = get_token(app.test_client(), key, register(app, key))
    return [
        Caller("anonymous", app.test_client(), {}),
        Caller("subject", subject_client, {"X-CSRF-Token": subject_csrf}),
        Caller("cashier", staff_client, {"X-CSRF-Token": staff_csrf}),
        Caller("institution", app.test_client(), {"Authorization": f"Bearer {bearer}"}),
    ]


def _writable_paths(app: Flask) -> list[tuple[str, str]]:
    """(method, concrete path) for every state-changing route of the application."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & UNSAFE):
            path = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), rule.rule)
            path = re.sub(r"<[^>]+>", "x", path)
            found.append((method, path))
    return sorted(found)


def test_the_walk_reaches_every_json_endpoint(app: Flask) -> None:
    paths = {path for _, path in _writable_paths(app)}
    assert "/api/v1/auth/challenge" in paths
    assert "/api/v1/institution/reports" in paths
    assert len(paths) >= 16


@pytest.mark.parametrize(
    ("label", "body", "content_type"),
    [
        ("nested_1000_levels", DEEPLY_NESTED.encode(), "application/json"),
        ("nested_object_1000_levels", b'{"a":' * 1000 + b"1" + b"}" * 1000, "application/json"),
        ("nested_without_json_type", DEEPLY_NESTED.encode(), "text/plain"),
    ],
)
def test_no_endpoint_answers_a_malformed_body_with_a_5xx(
    app: Flask, label: str, body: bytes, content_type: str
) -> None:
    failures = []
    for caller in _callers(app):
        for method, path in _writable_paths(app):
            response = caller.client.open(
                path,
                method=method,
                data=body,
                headers={**caller.headers, "Content-Type": content_type},
            )
            if response.status_code >= 500:
                failures.append(f"{caller.name} {method} {path} -> {response.status_code}")
    assert failures == [], f"{label}: " + "; ".join(failures)


def test_a_deeply_nested_body_is_a_clear_400_before_login(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/challenge", data=DEEPLY_NESTED, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: A compact JWS whose header and claims are each nested 1,000 levels deep (about 5 KB).
NESTED_JWS = f"{_b64(DEEPLY_NESTED.encode())}.{_b64(DEEPLY_NESTED.encode())}.{_b64(b'x' * 64)}"


def test_tokens_nested_too_deeply_are_refused_like_any_malformed_token(app: Flask) -> None:
    """The JSON inside a consent token or a client assertion is parsed too: the same rule."""
    callers = {caller.name: caller for caller in _callers(app)}
    subject = callers["subject"]
    created = subject.client.post(
        "/api/v1/self/consents", json={"token": NESTED_JWS}, headers=subject.headers
    )
    assert created.status_code == 400
    assert created.get_json()["error"] == "malformed"
    token = app.test_client().post(
        "/api/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": NESTED_JWS,
        },
    )
    assert token.status_code in {400, 401}
    asked = callers["institution"].client.post(
        "/api/v1/institution/reports",
        json={
            "id_number": "11010519491231002X",
            "purpose": "loan_approval",
            "consent_token": NESTED_JWS,
        },
        headers=callers["institution"].headers,
    )
    assert asked.status_code < 500


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (DEEPLY_NESTED.encode(), "nested too deeply"),
        (
            json.dumps({"notification_id": "N-1", "amount_fen": 1}).encode("utf-16"),
            "UTF-8 without a byte-order mark",
        ),
    ],
)
def test_a_signed_payment_notification_in_a_bad_body_is_a_clear_400(
    app: Flask, body: bytes, says: str
) -> None:
    """The provider's notification is parsed after its signature verified, by the same rule."""
    stamp = str(int(time.time()))
    key = container(app).settings.read_payment_notify_key()
    response = app.test_client().post(
        "/api/v1/billing/payment-notifications",
        data=body,
        headers={"X-CG-Timestamp": stamp, "X-CG-Signature": sign(key, stamp, body)},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert says in response.get_json()["message"]
