"""Institutions' OAuth 2.0: client credentials with private_key_jwt, bearer tokens, revocation.

Real keys (cryptography), real signatures (authlib's client for the happy path, joserfc or
hand-made JWS for the attacks), both database backends, the real SoftHSM2 blind-index key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, Response, g, jsonify
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import Connection, select, update

from app.container import container
from app.factory import create_app
from app.migrate import upgrade
from app.models import AccessToken, Base, ClientAssertionUse, Institution, LoginAttempt
from app.models.base import utcnow
from app.services.attempts import AttemptLog
from app.services.institutions import InstitutionService, Scope
from app.services.oauth import InstitutionPrincipal
from app.web.gate import csrf_exempt, public
from app.web.oauth import require_bearer
from crypto.keys import KeyProvider
from policies.identifiers import make_credit_code
from tests.conftest import BACKENDS, ScratchDatabase, make_settings

TOKEN_URL = "http://localhost/api/v1/oauth/token"
REVOKE_URL = "http://localhost/api/v1/oauth/revoke"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALL_SCOPES = (Scope.REPORT_QUERY.value, Scope.CONSENT_VERIFY.value)
GENERIC = {"error": "invalid_client", "error_description": "Client authentication failed."}
_serial = iter(range(1, 10_000))


# --- helpers ---------------------------------------------------------------------------------


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def register(
    app: Flask,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    scopes: tuple[str, ...] = ALL_SCOPES,
) -> str:
    code = make_credit_code("9", "1", "350100", f"MA{next(_serial):06d}")
    with container(app).transaction() as db:
        view = InstitutionService().register(
            db, credit_code=code, name="Bank of Test", public_key_pem=public_pem(key), scopes=scopes
        )
    return view.client_id


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims_for(client_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, claims: dict[str, Any], alg: str = ""
) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return jwt.encode({"alg": alg or "ES256"}, claims, ECKey.import_key(private_pem(key)))
    return jwt.encode({"alg": alg or "RS256"}, claims, RSAKey.import_key(private_pem(key)))


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWS built without a library, so no library guard stops the attack being formed."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def token_form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


def post_token(
    client: FlaskClient, assertion: str, address: str = "198.51.100.7", **extra: str
) -> Response:
    return client.post(
        "/api/v1/oauth/token",
        data=token_form(assertion, **extra),
        environ_base={"REMOTE_ADDR": address},
    )


def get_token(client: FlaskClient, key: Any, client_id: str, **extra: str) -> str:
    response = post_token(client, sign(key, claims_for(client_id)), **extra)
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["access_token"]
    return token


def whoami(client: FlaskClient, token: str) -> Response:
    return client.get("/api/v1/institution/whoami", headers={"Authorization": f"Bearer {token}"})


def token_rows(app: Flask) -> list[AccessToken]:
    with container(app).transaction() as db:
        return list(db.scalars(select(AccessToken)))


# --- the happy paths -------------------------------------------------------------------------


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

_OTHER_KEY = ec_key()


def _assertion_case(case: str, key: Any, client_id: str) -> str:
    now = int(time.time())
    pem = public_pem(key)
    cases: dict[str, Any] = {
        "expired": lambda: sign(key, claims_for(client_id, iat=now - 400, exp=now - 60)),
        "exp_too_far_ahead": lambda: sign(key, claims_for(client_id, exp=now + 3600)),
        "no_exp": lambda: sign(key, claims_for(client_id, exp=None)),
        "iat_in_the_future": lambda: sign(key, claims_for(client_id, iat=now + 120, exp=now + 200)),
        "nbf_in_the_future": lambda: sign(key, claims_for(client_id, nbf=now + 120)),
        "wrong_aud": lambda: sign(key, claims_for(client_id, aud="https://evil.example/token")),
        "aud_of_another_path": lambda: sign(
            key, claims_for(client_id, aud="http://localhost/api/v1/oauth/revoke")
        ),
        "no_aud": lambda: sign(key, claims_for(client_id, aud=None)),
        "wrong_iss": lambda: sign(key, claims_for(client_id, iss="inst-0000000000000000")),
        "wrong_sub": lambda: sign(key, claims_for(client_id, sub="inst-0000000000000000")),
        "no_iss": lambda: sign(key, claims_for(client_id, iss=None)),
        "no_jti": lambda: sign(key, claims_for(client_id, jti=None)),
        "jti_not_a_string": lambda: sign(key, claims_for(client_id, jti=12345)),
        "jti_too_long": lambda: sign(key, claims_for(client_id, jti="j" * 129)),
        "signed_by_another_key": lambda: sign(_OTHER_KEY, claims_for(client_id)),
        "alg_none": lambda: hand_made({"alg": "none"}, claims_for(client_id), None),
        "hs256_with_the_public_key": lambda: hand_made(
            {"alg": "HS256", "typ": "JWT"}, claims_for(client_id), pem
        ),
        "es384_header": lambda: hand_made({"alg": "ES384"}, claims_for(client_id), pem),
        "garbage": lambda: "not.a.jwt",
        "empty_signature": lambda: sign(key, claims_for(client_id)).rsplit(".", 1)[0] + ".",
        "unknown_client": lambda: sign(
            key, claims_for("inst-ffffffffffffffff", iss="inst-ffffffffffffffff")
        ),
    }
    built: str = cases[case]()
    return built


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
    response = post_token(client, _assertion_case(case, key, client_id))
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
    with container(app).transaction() as db:
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
    with container(app).transaction() as db:
        db.add(
            ClientAssertionUse(
                client_id=client_id, jti="old", expires_at=utcnow() - timedelta(seconds=1)
            )
        )
    assert post_token(client, sign(key, claims_for(client_id))).status_code == 200
    with container(app).transaction() as db:
        jtis = set(db.scalars(select(ClientAssertionUse.jti)))
    assert "old" not in jtis
    assert len(jtis) == 1


def test_a_disabled_institution_is_refused_and_its_tokens_die(
    app: Flask, client: FlaskClient
) -> None:
    key = ec_key()
    client_id = register(app, key)
    token = get_token(client, key, client_id)
    with container(app).transaction() as db:
        assert InstitutionService().disable(db, client_id) == 1
    assert post_token(client, sign(key, claims_for(client_id))).get_json() == GENERIC
    assert whoami(client, token).status_code == 401


def test_a_disabled_institution_is_refused_even_with_a_live_token_row(
    app: Flask, client: FlaskClient
) -> None:
    key = ec_key()
    client_id = register(app, key)
    token = get_token(client, key, client_id)
    with container(app).transaction() as db:  # disabled behind the service's back
        db.execute(
            update(Institution).where(Institution.client_id == client_id).values(status="disabled")
        )
    assert whoami(client, token).status_code == 401


def test_key_rotation_switches_keys_and_revokes_tokens(app: Flask, client: FlaskClient) -> None:
    old, new = ec_key(), rsa_key(3072)
    client_id = register(app, old)
    token = get_token(client, old, client_id)
    with container(app).transaction() as db:
        assert InstitutionService().rotate_key(db, client_id, public_pem(new)) == 1
    assert whoami(client, token).status_code == 401
    assert post_token(client, sign(old, claims_for(client_id))).get_json() == GENERIC
    assert post_token(client, sign(new, claims_for(client_id))).status_code == 200


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


def test_unregistered_scope_is_invalid_scope(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key, scopes=(Scope.CONSENT_VERIFY.value,))
    for scope in (
        Scope.REPORT_QUERY.value,
        f"{Scope.CONSENT_VERIFY.value} {Scope.REPORT_QUERY.value}",
        "institution:everything",
    ):
        response = post_token(client, sign(key, claims_for(client_id)), scope=scope)
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_scope"
    assert token_rows(app) == []
    granted = post_token(client, sign(key, claims_for(client_id)))
    assert granted.get_json()["scope"] == Scope.CONSENT_VERIFY.value


# --- tokens: lifetime, storage, bearer checks ------------------------------------------------


def test_token_lives_600_seconds_and_only_its_hash_is_stored(
    app: Flask, client: FlaskClient
) -> None:
    key = ec_key()
    client_id = register(app, key)
    assertion = sign(key, claims_for(client_id))
    before = utcnow()
    response = post_token(client, assertion)
    after = utcnow()
    token = response.get_json()["access_token"]
    assert response.get_json()["expires_in"] == 600
    [row] = token_rows(app)
    expires_at = (
        row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=before.tzinfo)
    )
    assert before + timedelta(seconds=600) <= expires_at <= after + timedelta(seconds=600)
    assert row.token_hash == hashlib.sha256(token.encode()).digest()
    needles = [token, assertion, assertion.split(".")[2]]
    with container(app).transaction() as db:
        for table in Base.metadata.sorted_tables:
            for record in db.execute(select(table)).all():
                for value in record:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    for needle in needles:
                        assert needle not in text, f"{table.name} holds a secret"
                    if isinstance(value, bytes):
                        assert token.encode() not in value


def test_expired_and_revoked_tokens_are_invalid_token(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    token = get_token(client, key, client_id)
    assert whoami(client, token).status_code == 200
    with container(app).transaction() as db:
        db.execute(update(AccessToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = whoami(client, token)
    assert expired.status_code == 401
    assert expired.get_json()["error"] == "invalid_token"
    assert expired.headers["WWW-Authenticate"].startswith(
        'Bearer realm="creditgate", error="invalid_token"'
    )
    other = get_token(client, key, client_id)
    with container(app).transaction() as db:
        db.execute(update(AccessToken).values(revoked_at=utcnow()))
    assert whoami(client, other).get_json()["error"] == "invalid_token"


def test_bearer_header_shapes(app: Flask, client: FlaskClient) -> None:
    missing = client.get("/api/v1/institution/whoami")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="creditgate"'
    basic = client.get("/api/v1/institution/whoami", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    malformed = client.get("/api/v1/institution/whoami", headers={"Authorization": "Bearer a b"})
    assert malformed.status_code == 400
    assert 'error="invalid_request"' in malformed.headers["WWW-Authenticate"]
    unknown = whoami(client, secrets.token_urlsafe(32))
    assert unknown.status_code == 401
    assert unknown.get_json()["error"] == "invalid_token"
    in_query = client.get(f"/api/v1/institution/whoami?access_token={secrets.token_urlsafe(32)}")
    assert in_query.status_code == 401


def test_insufficient_scope_is_403_with_the_needed_scope(app: Flask) -> None:
    @app.get("/api/v1/institution/test-report")
    @public
    @csrf_exempt
    @require_bearer(Scope.REPORT_QUERY.value)
    def report() -> Response:
        principal: InstitutionPrincipal = g.institution
        return jsonify(client_id=principal.client_id)

    client = app.test_client()
    key = ec_key()
    client_id = register(app, key)
    narrow = get_token(client, key, client_id, scope=Scope.CONSENT_VERIFY.value)
    refused = client.get(
        "/api/v1/institution/test-report", headers={"Authorization": f"Bearer {narrow}"}
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_scope"
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="creditgate", error="insufficient_scope", error_description="The access '
        'token does not carry the scope this resource needs.", scope="institution:report:query"'
    )
    wide = get_token(client, key, client_id, scope=Scope.REPORT_QUERY.value)
    allowed = client.get(
        "/api/v1/institution/test-report", headers={"Authorization": f"Bearer {wide}"}
    )
    assert allowed.get_json() == {"client_id": client_id}


# --- revocation (RFC 7009) -------------------------------------------------------------------


def test_revocation_needs_client_authentication_and_touches_only_own_tokens(
    app: Flask, client: FlaskClient
) -> None:
    key, other_key = ec_key(), ec_key()
    client_id, other_id = register(app, key), register(app, other_key)
    token = get_token(client, key, client_id)

    def revoke(signer: Any, who: str, value: str, aud: str = REVOKE_URL) -> Response:
        assertion = sign(signer, claims_for(who, aud=aud))
        data = {
            "token": value,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return client.post("/api/v1/oauth/revoke", data=data)

    assert revoke(other_key, client_id, token).get_json() == GENERIC  # forged client
    assert revoke(other_key, other_id, token).status_code == 200  # not its token: no effect
    assert whoami(client, token).status_code == 200
    assert revoke(key, client_id, secrets.token_urlsafe(32)).status_code == 200  # unknown
    assert revoke(key, client_id, token, aud=TOKEN_URL).status_code == 200
    assert whoami(client, token).status_code == 401


# --- audience behind the TLS proxy -----------------------------------------------------------


@pytest.fixture
def proxied_app(
    database_url: str, connection: Connection, key_provider: KeyProvider, tmp_path: Path
) -> Flask:
    settings = make_settings(database_url, tmp_path, trusted_proxies=("10.0.0.0/8",))
    return create_app(settings, key_provider=key_provider, bind=connection)


def test_aud_uses_forwarded_scheme_and_host_only_from_trusted_proxies(proxied_app: Flask) -> None:
    client = proxied_app.test_client()
    key = ec_key()
    client_id = register(proxied_app, key)
    public_url = "https://creditgate.example.gov.cn/api/v1/oauth/token"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "creditgate.example.gov.cn"}

    def attempt(address: str, aud: str) -> int:
        return client.post(
            "/api/v1/oauth/token",
            data=token_form(sign(key, claims_for(client_id, aud=aud))),
            headers=forwarded,
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    assert attempt("10.1.2.3", public_url) == 200
    assert attempt("10.1.2.3", TOKEN_URL) == 401
    assert attempt("192.0.2.50", public_url) == 401  # not a proxy: headers ignored
    assert attempt("192.0.2.51", TOKEN_URL) == 200


# --- replay under concurrency (real commits, no savepoint fixture) ----------------------------

RACERS = 8


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_concurrent_replays_of_one_assertion_let_exactly_one_through(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> None:
    upgrade(scratch_database.url)
    app = create_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    key = ec_key()
    client_id = register(app, key)
    assertion = sign(key, claims_for(client_id))
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def race(n: int) -> None:
        client = app.test_client()
        barrier.wait(timeout=30)
        status = post_token(client, assertion, address=f"192.0.2.{n}").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == RACERS
    assert statuses.count(200) == 1, statuses
    # Losers: a clean replay refusal (401), the throttle once 5 have failed (429), or on
    # SQLite a writer that overlapped the winner and could not write at all (503).
    allowed = {401, 429, 503} if scratch_database.backend == "sqlite" else {401, 429}
    assert set(statuses) - {200} <= allowed, statuses
    with container(app).transaction() as db:
        assert len(db.scalars(select(AccessToken)).all()) == 1
        assert len(db.scalars(select(ClientAssertionUse)).all()) == 1
    container(app).engine.dispose()


# --- attempt log and throttling --------------------------------------------------------------


def attempts_for(app: Flask, client_id: str) -> list[tuple[str, str, str, str]]:
    parts = container(app)
    key = AttemptLog(parts.key_provider).username_key(client_id)
    with parts.transaction() as db:
        rows = db.scalars(
            select(LoginAttempt).where(LoginAttempt.username_key == key).order_by(LoginAttempt.at)
        )
        return [(r.method, r.outcome, r.reason, r.client_address) for r in rows]


def test_every_attempt_is_recorded(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    assert (
        post_token(client, sign(key, claims_for(client_id)), address="192.0.2.1").status_code == 200
    )
    bad = sign(key, claims_for(client_id, aud="https://evil.example/"))
    assert post_token(client, bad, address="192.0.2.2").status_code == 401
    assert attempts_for(app, client_id) == [
        ("oauth", "success", "ok", "192.0.2.1"),
        ("oauth", "failure", "bad_client_assertion", "192.0.2.2"),
    ]


def test_throttled_per_client_id_not_globally(app: Flask, client: FlaskClient) -> None:
    victim_key, bystander_key = ec_key(), ec_key()
    victim, bystander = register(app, victim_key), register(app, bystander_key)
    for n in range(5):  # five failures for one client id, each from another address
        forged = sign(_OTHER_KEY, claims_for(victim))
        assert post_token(client, forged, address=f"203.0.113.{n}").status_code == 401
    blocked = post_token(client, sign(victim_key, claims_for(victim)), address="203.0.113.99")
    assert blocked.status_code == 429
    assert blocked.get_json()["error"] == "too_many_attempts"
    assert blocked.headers["Retry-After"] == "60"
    fine = post_token(client, sign(bystander_key, claims_for(bystander)), address="203.0.113.98")
    assert fine.status_code == 200
    assert attempts_for(app, victim)[-1][1:3] == ("throttled", "too_many_failures")


def test_throttled_per_address_not_globally(app: Flask, client: FlaskClient) -> None:
    key = ec_key()
    client_id = register(app, key)
    for n in range(5):  # five failures from one address, each for another (unknown) client
        unknown = f"inst-{n:016x}"
        forged = sign(_OTHER_KEY, claims_for(unknown))
        assert post_token(client, forged, address="198.51.100.66").status_code == 401
    good = sign(key, claims_for(client_id))
    assert post_token(client, good, address="198.51.100.66").status_code == 429
    assert post_token(client, good, address="198.51.100.67").status_code == 200


# --- nothing secret in the logs --------------------------------------------------------------


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("authlib", "joserfc", "creditgate"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("authlib", "joserfc"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger("creditgate").setLevel(logging.INFO)


def test_no_assertion_or_token_reaches_the_logs(
    app: Flask, client: FlaskClient, debug_logs: pytest.LogCaptureFixture
) -> None:
    key = ec_key()
    client_id = register(app, key)
    secrets_used: list[str] = []
    good = sign(key, claims_for(client_id))
    token = post_token(client, good).get_json()["access_token"]
    secrets_used += [good, token]
    for n, case in enumerate(("expired", "wrong_aud", "signed_by_another_key", "garbage")):
        bad = _assertion_case(case, key, client_id)
        assert post_token(client, bad, address=f"192.0.2.{n}").status_code == 401
        secrets_used.append(bad)
    assert post_token(client, good, address="192.0.2.200").get_json() == GENERIC  # replay
    whoami(client, token)
    whoami(client, token + "x")
    client.post(
        "/api/v1/oauth/revoke",
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": (revoke_assertion := sign(key, claims_for(client_id))),
        },
    )
    secrets_used.append(revoke_assertion)
    logged = debug_logs.text + "".join(str(r.args) for r in debug_logs.records)
    assert "oauth token issued" in logged  # the capture works, authlib's debug lines too
    assert any(record.name.startswith("authlib.") for record in debug_logs.records)
    for value in secrets_used:
        for part in {value, *[p for p in value.split(".") if len(p) > 16]}:
            assert part not in logged
