"""Institutions' OAuth 2.0 token endpoint: private_key_jwt client authentication.

Real keys (cryptography), real signatures (authlib's client for the happy path, joserfc or
hand-made JWS for the attacks), both database backends, the real SoftHSM2 blind-index key.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from flask import Flask, Response
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select, update

from app.container import container
from app.models import ClientAssertionUse, Institution
from app.models.base import utcnow
from app.services.oauth.institutions import InstitutionService, Scope
from tests.web.oauth_helpers import (
    ALL_SCOPES,
    GENERIC,
    TOKEN_URL,
    assertion_case,
    claims_for,
    ec_key,
    get_token,
    hand_made,
    post_token,
    private_pem,
    public_pem,
    register,
    rsa_key,
    sign,
    token_form,
    token_rows,
    whoami,
)


def test_es256_client_gets_a_token_and_whoami_answers(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    signing_key = ECKey.import_key(private_pem(key))  # joserfc keys: the non-deprecated API
    assertion = private_key_jwt_sign(signing_key, client_id, TOKEN_URL, alg="ES256", expires_in=120)
    response = post_token(client, assertion)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == " ".join(sorted(ALL_SCOPES))
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["access_token"])  # 256 bits, urlsafe
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    me = whoami(client, body["access_token"])
    assert me.status_code == 200
    assert me.get_json()["client_id"] == client_id
    assert me.get_json()["name"] == "Bank of Test"
    assert me.get_json()["credit_code"].startswith("91350100MA")
    assert me.get_json()["scopes"] == sorted(ALL_SCOPES)


def test_rs256_client_gets_a_token_for_the_scope_it_asks(app: Flask, client: FlaskClient) -> None:
    key = rsa_key(2048)
    client_id = register(app, key)
    signing_key = RSAKey.import_key(private_pem(key))
    assertion = private_key_jwt_sign(signing_key, client_id, TOKEN_URL, alg="RS256", expires_in=60)
    response = post_token(client, assertion, scope=Scope.CONSENT_VERIFY.value)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == Scope.CONSENT_VERIFY.value
    me = whoami(client, response.get_json()["access_token"])
    assert me.get_json()["scopes"] == [Scope.CONSENT_VERIFY.value]


def test_aud_must_be_one_string_not_a_list(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    listed = claims_for(client_id, aud=["https://elsewhere.example/token", TOKEN_URL])
    assert post_token(client, sign(key, listed)).get_json() == GENERIC
    alone = claims_for(client_id, aud=[TOKEN_URL])
    assert post_token(client, sign(key, alone)).get_json() == GENERIC
    assert post_token(client, sign(key, claims_for(client_id))).status_code == 200


def test_a_session_cookie_is_irrelevant_and_needs_no_csrf_token(
    app: Flask, client: FlaskClient
) -> None:
    from tests.logins import logged_in, make_account

    browser, _csrf = logged_in(app, make_account(app, "teller.li"), frozenset({"password"}))
    key = ec_key()
    client_id = register(app, key)
    assert post_token(browser, sign(key, claims_for(client_id))).status_code == 200


# --- every way the client authentication can fail: one generic 401 ---------------------------


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "exp_too_far_ahead",
        "no_exp",
        "iat_in_the_future",
        "nbf_in_the_future",
        "wrong_aud",
        "aud_of_another_path",
        "no_aud",
        "wrong_iss",
        "wrong_sub",
        "no_iss",
        "no_jti",
        "jti_not_a_string",
        "jti_too_long",
        "signed_by_another_key",
        "alg_none",
        "hs256_with_the_public_key",
        "es384_header",
        "garbage",
        "empty_signature",
        "unknown_client",
    ],
)
def test_bad_assertions_get_one_generic_invalid_client(
    app: Flask, client: FlaskClient, case: str
) -> None:
    key = ec_key()
    client_id = register(app, key)
    response = post_token(client, assertion_case(case, key, client_id))
    assert response.status_code == 401
    assert response.get_json() == GENERIC
    assert response.headers["Cache-Control"] == "no-store"
    assert token_rows(app) == []


def test_rs256_client_refuses_hs256_with_its_public_key_and_an_es256_signature(
    app: Flask, client: FlaskClient
) -> None:
    key = rsa_key(2048)
    client_id = register(app, key)
    forged = hand_made({"alg": "HS256"}, claims_for(client_id), public_pem(key))
    assert post_token(client, forged).get_json() == GENERIC
    assert post_token(client, sign(ec_key(), claims_for(client_id))).get_json() == GENERIC
    ps256 = jwt.encode(
        {"alg": "PS256"},
        claims_for(client_id),
        RSAKey.import_key(private_pem(key)),
        algorithms=["PS256"],
    )
    assert post_token(client, ps256).get_json() == GENERIC  # only RS256 for an RSA key
    assert post_token(client, sign(key, claims_for(client_id))).status_code == 200


def test_exp_up_to_five_minutes_ahead_is_accepted(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    now = int(time.time())
    assert post_token(client, sign(key, claims_for(client_id, exp=now + 300))).status_code == 200
    too_far = sign(key, claims_for(client_id, exp=now + 300 + 31 + 5))  # beyond the leeway
    assert post_token(client, too_far).get_json() == GENERIC


def test_a_jti_is_accepted_once(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    claims = claims_for(client_id)
    assertion = sign(key, claims)
    assert post_token(client, assertion).status_code == 200
    assert post_token(client, assertion).get_json() == GENERIC
    resigned = sign(key, {**claims, "exp": claims["exp"] + 10})  # same jti, new signature
    assert post_token(client, resigned).get_json() == GENERIC
    assert len(token_rows(app)) == 1
    with container(app).unit() as db:
        use = db.scalars(select(ClientAssertionUse)).one()
    assert (use.client_id, use.jti) == (client_id, claims["jti"])


def test_the_same_jti_from_another_client_is_its_own(app: Flask, client: FlaskClient) -> None:
    first_key, second_key = ec_key(), ec_key()
    first, second = register(app, first_key), register(app, second_key)
    jti = "shared-jti-value"
    assert post_token(client, sign(first_key, claims_for(first, jti=jti))).status_code == 200
    assert post_token(client, sign(second_key, claims_for(second, jti=jti))).status_code == 200


def test_a_refused_assertion_does_not_burn_its_jti(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    wrong = sign(key, claims_for(client_id, jti="kept", aud="https://evil.example/"))
    assert post_token(client, wrong).status_code == 401
    assert post_token(client, sign(key, claims_for(client_id, jti="kept"))).status_code == 200


def test_expired_jti_rows_are_purged(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    with container(app).unit() as db:
        db.add(
            ClientAssertionUse(
                client_id=client_id, jti="old", expires_at=utcnow() - timedelta(seconds=1)
            )
        )
    assert post_token(client, sign(key, claims_for(client_id))).status_code == 200
    with container(app).unit() as db:
        jtis = set(db.scalars(select(ClientAssertionUse.jti)))
    assert "old" not in jtis
    assert len(jtis) == 1


def test_a_disabled_institution_is_refused_and_its_tokens_die(
    app: Flask, client: FlaskClient
) -> None:
    key = ec_key()
    client_id = register(app, key)
    token = get_token(client, key, client_id)
    with container(app).unit() as db:
        assert InstitutionService().disable(db, client_id) == 1
    assert post_token(client, sign(key, claims_for(client_id))).get_json() == GENERIC
    assert whoami(client, token).status_code == 401


def test_a_disabled_institution_is_refused_even_with_a_live_token_row(
    app: Flask, client: FlaskClient
) -> None:
    key = ec_key()
    client_id = register(app, key)
    token = get_token(client, key, client_id)
    with container(app).unit() as db:  # disabled behind the service's back
        db.execute(
            update(Institution).where(Institution.client_id == client_id).values(status="disabled")
        )
    assert whoami(client, token).status_code == 401


def test_key_rotation_switches_keys_and_revokes_tokens(app: Flask, client: FlaskClient) -> None:
    old, new = rsa_key(2048), ec_key()  # from a key enrolled before the cut-off to P-256
    client_id = register(app, old)
    token = get_token(client, old, client_id)
    with container(app).unit() as db:
        assert InstitutionService().rotate_key(db, client_id, public_pem(new)) == 1
    assert whoami(client, token).status_code == 401
    assert post_token(client, sign(old, claims_for(client_id))).get_json() == GENERIC
    assert post_token(client, sign(new, claims_for(client_id))).status_code == 200


def test_new_enrolments_and_rotations_refuse_rsa_keys(app: Flask) -> None:
    from app.services.oauth.institutions import InstitutionError

    client_id = register(app, ec_key())
    for bits in (2048, 3072):
        with container(app).unit() as db, pytest.raises(InstitutionError, match="P-256"):
            InstitutionService().rotate_key(db, client_id, public_pem(rsa_key(bits)))


# --- request shape, grant type, scope --------------------------------------------------------


def _shape_case(client: FlaskClient, case: str, assertion: str, client_id: str) -> Response:
    form: dict[str, Any] = token_form(assertion)
    url, headers = "/api/v1/oauth/token", {}
    if case == "wrong_grant_type":
        form["grant_type"] = "password"
    elif case == "missing_grant_type":
        del form["grant_type"]
    elif case == "repeated_parameter":
        form["grant_type"] = ["client_credentials", "client_credentials"]
    elif case == "assertion_in_the_url":
        url += f"?client_assertion={assertion}"
    elif case == "basic_authorization_too":
        headers["Authorization"] = "Basic eDp5"
    elif case == "client_secret_too":
        form["client_secret"] = "s3cret"
    elif case == "json_body":
        return client.post(url, json=form)
    elif case == "no_client_authentication":
        form = {"grant_type": "client_credentials"}
    elif case == "wrong_assertion_type":
        form["client_assertion_type"] = "urn:x"
    elif case == "client_id_of_another":
        form["client_id"] = "inst-0000000000000000"
    elif case == "matching_client_id":
        form["client_id"] = client_id
    return client.post(url, data=form, headers=headers)


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("wrong_grant_type", 400, "unsupported_grant_type"),
        ("missing_grant_type", 400, "invalid_request"),
        ("repeated_parameter", 400, "invalid_request"),
        ("assertion_in_the_url", 400, "invalid_request"),
        ("basic_authorization_too", 400, "invalid_request"),
        ("client_secret_too", 400, "invalid_request"),
        ("json_body", 400, "invalid_request"),
        ("no_client_authentication", 401, "invalid_client"),
        ("wrong_assertion_type", 401, "invalid_client"),
        ("client_id_of_another", 401, "invalid_client"),
        ("matching_client_id", 200, None),
    ],
)
def test_request_shape_and_grant_type(
    app: Flask, client: FlaskClient, case: str, status: int, error: str | None
) -> None:
    key = ec_key()
    client_id = register(app, key)
    response = _shape_case(client, case, sign(key, claims_for(client_id)), client_id)
    assert response.status_code == status
    if error is None:
        assert len(token_rows(app)) == 1
        return
    assert response.get_json()["error"] == error
    assert set(response.get_json()) == {"error", "error_description"}
    if error == "invalid_client":
        assert response.get_json() == GENERIC
    assert token_rows(app) == []


def test_the_token_endpoint_is_post_only(client: FlaskClient) -> None:
    assert client.get("/api/v1/oauth/token").status_code == 405
