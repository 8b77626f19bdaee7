"""Staff login (password + TOTP) and TOTP re-enrolment for a logged-in staff member.

- `POST /api/v1/auth/staff/login {username, password, otp}`: public (it authenticates itself)
  and CSRF-exempt (no session to protect yet). Any failure answers the same 401 body; a
  throttled caller gets 429; the precise reason goes only to the login-attempt log. Success
  starts a new session (replacing any the caller had: no fixation). A request that cannot be
  a login (not a JSON object, a username that cannot exist, non-string or oversized fields)
  answers 400 and changes nothing; a missing password or otp is a missing factor (401, recorded).
- `POST /api/v1/auth/totp/enrol {password, otp}` (staff session + CSRF token): a fresh
  password re-entry and a current code of the authenticator being replaced (`otp`; not needed
  when the session was stepped up with the card), then a new unconfirmed secret; every
  session of the account ends and the caller gets a new one (and CSRF token) to confirm
  with. Answers the `otpauth://` URI and QR (SVG).
- `POST /api/v1/auth/totp/confirm {code}` (staff session + CSRF token): confirms the pending
  secret with a code from it, then renews the caller's session id.
There is deliberately no unauthenticated enrolment: first-time staff are enrolled by
`flask accounts create-staff`. Nothing here logs a password, code, secret or session id.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.container import Container, container
from app.services.auth.accounts import AccountService, StaffLogin, login_username
from app.services.auth.login_attempts import AttemptLog, Outcome, Reason
from app.services.auth.sessions import Principal, SessionService
from app.services.auth.totp import TotpService
from app.services.policy import Action
from app.web.bodies import not_json_message
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import (
    LOGIN_FAILED,
    THROTTLED,
    bad_request,
    client_address,
    current_principal,
    current_session_token,
    establish,
    json_body,
)

bp = Blueprint("auth_staff", __name__, url_prefix="/api/v1/auth")
MAX_FIELD = 1024
STAFF_ONLY = {
    "error": "forbidden",
    "message": "This is for staff accounts logged in with password and TOTP.",
}
PASSWORD_REFUSED = {
    "error": "password_refused",
    "message": "The password or the current code was not accepted.",
}


def _totp(parts: Container) -> TotpService:
    return TotpService(parts.keys, parts.cipher)


def _staff_login(parts: Container) -> StaffLogin:
    return StaffLogin(AttemptLog(parts.key_provider), _totp(parts), AccountService(parts.passwords))


def _describe(principal: Principal) -> dict[str, object]:
    return {
        "username": principal.username,
        "kind": principal.kind,
        "roles": sorted(principal.roles),
        "methods": sorted(principal.methods),
    }


def _staff_principal() -> Principal | None:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    return principal if principal.kind == "staff" else None


def _login_fields() -> tuple[str, str, str] | None:
    """(username, password, otp) from a JSON object, or None if it cannot be a login.

    A missing or empty password or otp is a missing factor (a failed, recorded attempt), not
    malformed input; a username that cannot exist, a non-string field or an oversized one is.
    """
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None
    username = login_username(body.get("username"))
    password, otp = body.get("password", ""), body.get("otp", "")
    if username is None or not isinstance(password, str) or not isinstance(otp, str):
        return None
    if len(password) > MAX_FIELD or len(otp) > MAX_FIELD:
        return None
    return username, password, otp


@bp.post("/staff/login")
@bound_to(Action.AUTH_SESSION_CREATE)
@public
@csrf_exempt
def staff_login() -> Response | tuple[Response, int]:
    fields = _login_fields()
    if fields is None:
        return bad_request(not_json_message("Send a JSON object with username, password and otp."))
    username, password, otp = fields
    parts = container()
    with parts.unit() as db:
        result = _staff_login(parts).login(
            db,
            username=username,
            password=password,
            code=otp,
            address=client_address(),
            replaces=current_session_token(),
        )
    if result.outcome is Outcome.THROTTLED:
        return jsonify(THROTTLED), 429
    if result.outcome is not Outcome.SUCCESS or result.token is None:
        return jsonify(LOGIN_FAILED), 401
    assert result.principal is not None
    establish(result.token, result.principal)
    return jsonify(_describe(result.principal))


@bp.post("/totp/enrol")
@bound_to(Action.AUTH_TOTP_ENROL)
def totp_enrol() -> Response | tuple[Response, int]:
    principal = _staff_principal()
    if principal is None or "totp" not in principal.methods:
        return jsonify(STAFF_ONLY), 403  # a weaker session may not replace the second factor
    body = json_body("password", max_length=MAX_FIELD)
    if body is None:
        return bad_request(not_json_message("Send a JSON object with your password."))
    parts = container()
    with parts.unit() as db:
        result, enrolment = _staff_login(parts).reenrol_totp(
            db,
            principal=principal,
            password=body["password"],
            address=client_address(),
            code=_current_code(),
        )
    if enrolment is None or result.token is None or result.principal is None:
        if result.outcome is Outcome.THROTTLED:
            return jsonify(THROTTLED), 429
        return jsonify(PASSWORD_REFUSED), 403
    establish(result.token, result.principal)
    return jsonify(
        otpauth_uri=enrolment.otpauth_uri,
        qr_svg=enrolment.qr_svg,
        csrf_token=result.principal.csrf_token,
        status="pending",
    )


def _current_code() -> str | None:
    """The `otp` of the enrol request's JSON body: a current code of the authenticator being
    replaced (not needed when the session was stepped up with the card)."""
    body = request.get_json(silent=True)
    value = body.get("otp") if isinstance(body, dict) else None
    return value if isinstance(value, str) and len(value) <= 16 else None


@bp.post("/totp/confirm")
@bound_to(Action.AUTH_TOTP_ENROL)
def totp_confirm() -> Response | tuple[Response, int]:
    principal = _staff_principal()
    if principal is None:
        return jsonify(STAFF_ONLY), 403
    body = json_body("code", max_length=16)
    if body is None:
        return bad_request(
            not_json_message("Send a JSON object with the code from your authenticator.")
        )
    parts = container()
    sessions = SessionService()
    with parts.unit() as db:
        account = AccountService(container().passwords).get(db, principal.account_id)
        assert account is not None  # a live session implies the account exists
        reason = _totp(parts).confirm(db, account, body["code"])
        if reason is not None:
            renewed = None
        else:
            token = sessions.start(db, account, principal.methods, replaces=current_session_token())
            renewed = (token, sessions.resume(db, token, touch=False))
    if reason is Reason.NO_TOTP:
        return jsonify(error="nothing_to_confirm", message="No TOTP enrolment is pending."), 409
    if renewed is None or renewed[1] is None:
        return jsonify(error="code_refused", message="The code was not accepted."), 400
    establish(renewed[0], renewed[1])
    return jsonify(status="confirmed", csrf_token=renewed[1].csrf_token)
