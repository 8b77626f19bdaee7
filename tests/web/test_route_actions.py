"""Every route is bound to one action the policy decides; refusals and request ids.

The URL map is walked on the real app: an endpoint bound to no action fails here (binding twice
already raises in `bound_to`). A view reachable without a session (`@public`) must be bound to an
action that needs no session: no login at all, or credentials the request carries itself (an
institution's bearer token, a payment provider's signature). Every other view must need a
session, so the anonymous caller is refused.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.container import container
from app.factory import create_app
from app.services.auth.callers import PAYMENT_PROVIDER, caller_for, caller_for_institution
from app.services.auth.sessions import Principal
from app.services.lists.search import limit_reached
from app.services.outcomes import payment_required, refusal_for
from app.services.policy import Action, Decision, Outcome, Strength
from app.web.answers import http
from app.web.gate import action_of, is_public
from crypto.keys import KeyProvider
from policies.policy_data import PolicyError
from tests.conftest import make_app, make_settings
from tests.fakes import InMemoryKeyProvider

ON = date(2026, 3, 1)
#: Strengths a request proves by itself, without a session; a @public view may need them.
SELF_AUTHENTICATING = {Strength.NONE, Strength.INSTITUTION_TOKEN, Strength.SIGNED_NOTIFICATION}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _endpoints(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}


def test_every_endpoint_is_bound_to_an_action(app: Flask) -> None:
    unbound = sorted(e for e in _endpoints(app) if action_of(app, e) is None)
    assert not unbound, f"endpoints bound to no policy action: {unbound}"


def test_every_bound_action_is_listed_in_the_policy(app: Flask) -> None:
    policy = container(app).policy
    for endpoint in _endpoints(app):
        action = action_of(app, endpoint)
        assert action is not None
        assert policy.strength_for(action) is not None, endpoint


def test_public_views_need_no_session_and_others_need_one(app: Flask) -> None:
    policy = container(app).policy
    anonymous = caller_for(None)
    for endpoint in sorted(_endpoints(app)):
        action = action_of(app, endpoint)
        assert action is not None
        strength = policy.strength_for(action)
        decision = policy.decide(anonymous, action, on=ON)
        if is_public(app, endpoint):
            assert strength in SELF_AUTHENTICATING, f"{endpoint} is @public but needs {strength}"
            expected = Outcome.ALLOW if strength is Strength.NONE else Outcome.UNAUTHENTICATED
            assert decision.outcome is expected, endpoint
        else:
            assert strength not in SELF_AUTHENTICATING, f"{endpoint} needs a login: not @public"
            assert decision.outcome is Outcome.UNAUTHENTICATED, endpoint


def test_an_unbound_route_found_in_the_map_is_reported(app: Flask) -> None:
    app.add_url_rule("/api/v1/forgotten", "forgotten", lambda: "")
    assert action_of(app, "forgotten") is None
    assert "forgotten" in {e for e in _endpoints(app) if action_of(app, e) is None}


# --- callers -----------------------------------------------------------------------------------


def _principal(kind: str, methods: set[str], roles: frozenset[str] = frozenset()) -> Principal:
    return Principal(
        account_id=uuid.uuid4(),
        username="someone",
        kind=kind,
        roles=frozenset(roles),
        methods=frozenset(methods),
        csrf_token="csrf-secret-value",
        card_id=None,
        subject_id=None,
    )


def test_callers_carry_what_policy_needs_and_no_secret(app: Flask) -> None:
    policy = container(app).policy
    subject = caller_for(_principal("subject", {"password", "card"}))
    weak = caller_for(_principal("subject", {"password"}))
    cashier = caller_for(_principal("staff", {"password", "totp"}, frozenset({"cashier"})))
    assert "csrf-secret-value" not in repr(subject)
    assert "someone" not in repr(subject)
    assert policy.decide(subject, Action.SELF_REPORT_READ, on=ON).outcome is Outcome.NOT_FOUND
    assert policy.decide(weak, Action.SELF_REPORT_READ, on=ON).outcome is Outcome.STEP_UP
    assert policy.decide(cashier, Action.BILLING_LEDGER_TOPUP, on=ON).allowed
    assert policy.decide(PAYMENT_PROVIDER, Action.BILLING_PAYMENT_NOTIFY, on=ON).allowed
    assert caller_for(_principal("robot", {"password", "card"})).kind == "anonymous"


def test_institution_caller_carries_its_token_scopes(app: Flask) -> None:
    from datetime import UTC, datetime

    from app.services.oauth.bearer import InstitutionPrincipal

    principal = InstitutionPrincipal(
        institution_id=uuid.uuid4(),
        client_id="bank-1",
        name="Bank",
        credit_code="91500000000000000X",
        scopes=frozenset({"institution:report:query"}),
        token_expires_at=datetime.now(UTC),
    )
    caller = caller_for_institution(principal)
    assert caller.scopes == frozenset({"institution:report:query"})
    decision = container(app).policy.decide(caller, Action.INSTITUTION_LEDGER_READ, on=ON)
    assert decision.allowed


# --- refusals ---------------------------------------------------------------------------------


def refusal(decision: Decision) -> tuple[Any, int]:
    return http(refusal_for(decision))


@pytest.mark.parametrize(
    ("outcome", "status", "error"),
    [
        (Outcome.UNAUTHENTICATED, 401, "authentication_required"),
        (Outcome.STEP_UP, 403, "step_up_required"),
        (Outcome.DENY, 403, "forbidden"),
        (Outcome.NOT_FOUND, 404, "not_found"),
    ],
)
def test_refusal_follows_the_table(app: Flask, outcome: Outcome, status: int, error: str) -> None:
    with app.test_request_context():
        response, code = refusal(Decision(Action.SELF_REPORT_READ, outcome, "some_reason"))
        body = response.get_json()
    assert code == status
    assert body["error"] == error
    assert body["message"]


def test_not_found_looks_the_same_whatever_the_reason(app: Flask) -> None:
    with app.test_request_context():
        bodies = [
            refusal(Decision(Action.INSTITUTION_REPORT_QUERY, Outcome.NOT_FOUND, r))[0].get_data()
            for r in ("no_consent", "consent_for_another_subject", "not_the_callers")
        ]
    assert len(set(bodies)) == 1


def test_deny_names_its_reason_and_allow_is_no_refusal(app: Flask) -> None:
    with app.test_request_context():
        response, _ = refusal(
            Decision(Action.INSTITUTION_REPORT_QUERY, Outcome.DENY, "no_category_released")
        )
        assert response.get_json()["reason"] == "no_category_released"
        with pytest.raises(ValueError, match="not a refusal"):
            refusal(Decision(Action.SERVICE_HOME_READ, Outcome.ALLOW, "ok"))


def test_limit_and_payment_bodies(app: Flask) -> None:
    with app.test_request_context():
        limit, limit_status = http(limit_reached())
        paid, paid_status = http(payment_required("order-1"))
        assert (limit_status, limit.get_json()["error"]) == (429, "daily_limit_reached")
        assert (paid_status, paid.get_json()["order_id"]) == (402, "order-1")


# --- request ids -----------------------------------------------------------------------------


def test_every_response_carries_a_fresh_request_id(app: Flask) -> None:
    client = app.test_client()
    ids = []
    for path in ("/healthz", "/api/v1/self/reports", "/api/v1/no-such-thing"):
        response = client.get(path)
        request_id = response.headers.get("X-Request-Id", "")
        assert UUID4.fullmatch(request_id), path
        ids.append(request_id)
    assert len(set(ids)) == 3


def test_a_request_id_from_an_untrusted_client_is_ignored(app: Flask) -> None:
    response = app.test_client().get("/healthz", headers={"X-Request-Id": "chosen-by-client"})
    assert response.headers["X-Request-Id"] != "chosen-by-client"
    assert UUID4.fullmatch(response.headers["X-Request-Id"])


def test_a_trusted_proxys_request_id_is_kept_only_when_well_formed(
    database_url: str, key_provider: KeyProvider, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, trusted_proxies=("10.0.0.0/8",))
    client = make_app(settings, key_provider=key_provider).test_client()
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    kept = client.get("/healthz", headers={"X-Request-Id": "abc-123"}, environ_base=proxy)
    assert kept.headers["X-Request-Id"] == "abc-123"
    for bad in ("a" * 65, "has space", "semi;colon", "ünï"):
        response = client.get("/healthz", headers={"X-Request-Id": bad}, environ_base=proxy)
        assert UUID4.fullmatch(response.headers["X-Request-Id"]), bad


# --- start-up -----------------------------------------------------------------------------------


def test_a_broken_policy_file_refuses_to_start(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parents[2] / "policies" / "data" / "policy.toml"
    broken = tmp_path / "policy.toml"
    broken.write_text(good.read_text(encoding="utf-8").replace('"staff_totp"', '"trust_me"', 1))
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    with pytest.raises(PolicyError, match="unknown strength 'trust_me'"):
        create_app(settings, key_provider=InMemoryKeyProvider(), policy_path=broken)
    with pytest.raises(PolicyError, match="cannot be read"):
        create_app(settings, key_provider=InMemoryKeyProvider(), policy_path=tmp_path / "nope")
