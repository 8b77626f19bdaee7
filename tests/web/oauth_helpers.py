"""Helpers for the OAuth tests: keys, registration, assertions, token requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, Response
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from app.container import container
from app.models import AccessToken
from app.services.oauth.institutions import InstitutionService, Scope
from policies.identifiers import make_credit_code

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
    legacy = isinstance(key, rsa.RSAPrivateKey)  # RSA: only as enrolled before the cut-off
    with container(app).unit() as db:
        view = InstitutionService().register(
            db,
            credit_code=code,
            name="Bank of Test",
            public_key_pem=public_pem(ec_key() if legacy else key),
            scopes=scopes,
        )
        if legacy:
            enrolled_before_the_cutoff(db, view.client_id, key)
    return view.client_id


def enrolled_before_the_cutoff(db: Any, client_id: str, key: rsa.RSAPrivateKey) -> None:
    """Give an institution the RSA key it was enrolled with before the cut-off (new
    enrolments are EC P-256 only), as a database migrated from then would hold it."""
    from sqlalchemy import update

    from app.models import Institution

    db.execute(
        update(Institution)
        .where(Institution.client_id == client_id)
        .values(public_key_pem=public_pem(key).decode("ascii"))
    )


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
    with container(app).unit() as db:
        return list(db.scalars(select(AccessToken)))


#: A key no institution registered: signatures made with it must always be refused.
OTHER_KEY = ec_key()


def assertion_case(case: str, key: Any, client_id: str) -> str:
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
        "signed_by_another_key": lambda: sign(OTHER_KEY, claims_for(client_id)),
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
