"""Subject logins: smart-card challenge-response, and mutual TLS through the TLS proxy.

Guarantees (the rules themselves live in `app.services.auth.card_login`):
- `POST /api/v1/auth/challenge`, `POST /api/v1/auth/login`, `POST /api/v1/auth/login/mtls` are
  public and CSRF-exempt: they authenticate by themselves, and they accept only
  `application/json` bodies, which a cross-site page cannot send without a CORS preflight;
- malformed input (not a JSON object, a missing or ill-formed username or challenge id,
  malformed base64, a signature of an impossible length) answers 400 with a generic message
  that never echoes the input, and changes nothing; a body over 64 KiB answers 413;
- every other failure answers 401 with one generic body, a throttled caller 429;
- on success the caller's previous session (if any) is ended and a new session id is set;
- the client-certificate header is read only from a configured proxy address; from anywhere
  else it is ignored and a warning names the address, never the header's content.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.container import container
from app.services.auth.card_login import (
    DER_ECDSA_BYTES,
    RAW_ECDSA_BYTES,
    CardLoginService,
    MalformedRequest,
    certificate_from_header,
    iso_utc,
    parse_username,
)
from app.services.auth.login_attempts import Outcome
from app.services.auth.sessions import LoginResult
from app.services.policy import Action
from app.web.bodies import not_json_message
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import (
    LOGIN_FAILED,
    THROTTLED,
    bad_request,
    client_address,
    current_session_token,
    establish,
    from_trusted_proxy,
)

log = logging.getLogger("creditgate.auth")
bp = Blueprint("auth_card", __name__, url_prefix="/api/v1/auth")
NOT_JSON = "Expected a JSON object (Content-Type: application/json)."
MAX_PASSWORD_CHARS = 1024
RSA_2048_BYTES = 256  # CKM_SHA256_RSA_PKCS on a 2048-bit card
_CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def parse_challenge_id(raw: object) -> str:
    if isinstance(raw, str) and _CHALLENGE_ID.fullmatch(raw):
        return raw
    raise MalformedRequest("challenge_id is missing or malformed.")


def parse_password(raw: object) -> str | None:
    """The password, or None when the factor is absent (null or empty)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and len(raw) <= MAX_PASSWORD_CHARS:
        return raw
    raise MalformedRequest("password must be a string of at most 1024 characters.")


def parse_signature(raw: object) -> bytes | None:
    """The decoded signature, or None when absent (null or empty).

    base64url without padding (padding and the standard alphabet are tolerated). The length
    must fit one of the accepted forms whatever card the account holds, so a 400 here tells
    nothing about the account.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > 1024:
        raise MalformedRequest("signature must be a base64url string.")
    text = raw.strip().replace("+", "-").replace("/", "_")
    if not _BASE64URL.fullmatch(text):
        raise MalformedRequest("signature is not valid base64url.")
    try:
        signature = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise MalformedRequest("signature is not valid base64url.") from None
    der_like = len(signature) in DER_ECDSA_BYTES and signature[0] == 0x30
    if len(signature) not in (RAW_ECDSA_BYTES, RSA_2048_BYTES) and not der_like:
        raise MalformedRequest(
            "signature has the wrong length (expected ECDSA P-256 r||s or DER, or RSA-2048)."
        )
    return signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _service() -> CardLoginService:
    parts = container()
    return CardLoginService(parts.key_provider, parts.settings.service_name, parts.passwords)


def _json_object() -> dict[str, Any] | None:
    body: Any = request.get_json(silent=True)  # over 64 KiB raises 413 before parsing
    return body if isinstance(body, dict) else None


def _throttled() -> tuple[Response, int]:
    response = jsonify(THROTTLED)
    response.headers["Retry-After"] = "60"
    return response, 429


def _answer(result: LoginResult) -> tuple[Response, int]:
    if result.outcome is Outcome.THROTTLED:
        return _throttled()
    if result.outcome is not Outcome.SUCCESS or result.token is None or result.principal is None:
        return jsonify(LOGIN_FAILED), 401
    establish(result.token, result.principal)
    principal = result.principal
    return jsonify(
        username=principal.username, kind=principal.kind, methods=sorted(principal.methods)
    ), 200


@bp.post("/challenge")
@bound_to(Action.AUTH_CHALLENGE_CREATE)
@public
@csrf_exempt
def challenge() -> tuple[Response, int]:
    body = _json_object()
    if body is None:
        return bad_request(not_json_message(NOT_JSON))
    try:
        username = parse_username(body.get("username"))
    except MalformedRequest as exc:
        return bad_request(exc.message)
    with container().unit() as db:
        issued = _service().issue_challenge(db, username, client_address())
    if issued is None:
        return _throttled()
    return jsonify(
        challenge_id=issued.challenge_id,
        to_be_signed=b64url(issued.to_be_signed),
        expires_at=iso_utc(issued.expires_at),
    ), 200


@bp.post("/login")
@bound_to(Action.AUTH_SESSION_CREATE)
@public
@csrf_exempt
def login() -> tuple[Response, int]:
    body = _json_object()
    if body is None:
        return bad_request(not_json_message(NOT_JSON))
    try:
        challenge_id = parse_challenge_id(body.get("challenge_id"))
        username = parse_username(body.get("username"))
        password = parse_password(body.get("password"))
        signature = parse_signature(body.get("signature"))
    except MalformedRequest as exc:
        return bad_request(exc.message)
    replaces = current_session_token()
    with container().unit() as db:
        result = _service().login(
            db,
            challenge_id=challenge_id,
            username=username,
            password=password,
            signature=signature,
            address=client_address(),
            replaces=replaces,
        )
    return _answer(result)


@bp.post("/login/mtls")
@bound_to(Action.AUTH_SESSION_CREATE)
@public
@csrf_exempt
def login_mtls() -> tuple[Response, int]:
    body = _json_object()
    if body is None:
        return bad_request(not_json_message(NOT_JSON))
    try:
        username = parse_username(body.get("username"))
        password = parse_password(body.get("password"))
    except MalformedRequest as exc:
        return bad_request(exc.message)
    return _answer(mtls_login(username, password))


def mtls_login(username: str, password: str | None) -> LoginResult:
    """Password + the certificate the trusted proxy forwarded: the one path shared by the JSON
    endpoint and the browser form (`app.web.browser`). Inputs are already parsed."""
    certificate = certificate_from_header(forwarded_certificate())
    replaces = current_session_token()
    with container().unit() as db:
        return _service().login_mtls(
            db,
            username=username,
            password=password,
            certificate=certificate,
            address=client_address(),
            replaces=replaces,
        )


def forwarded_certificate() -> str | None:
    """The proxy's client-certificate header, only if the peer is a configured proxy."""
    header = container().settings.client_cert_header
    value = request.headers.get(header)
    if value is None:
        return None
    if from_trusted_proxy(request.remote_addr):
        return value
    log.warning(
        "ignored the %s header from %s, which is not a trusted proxy", header, request.remote_addr
    )
    return None
