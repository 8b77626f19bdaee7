"""People's own password and sessions: the API and the browser pages.

- `POST /api/v1/auth/password {current_password, new_password}`: change one's own password
  (current one checked under the login throttle; the policy applied; every other session
  ended; the caller gets a new session id and CSRF token). 200, 400 `password_refused` with
  the policy's reasons, 403 `login_failed` for a wrong current password, 429 when throttled.
- `GET /api/v1/auth/sessions`: one's own live sessions (handle, started, last activity,
  methods, which is this one). `POST /api/v1/auth/sessions/<handle>/end {password}`: end one
  of them after typing the password again (throttled like a login; 403 when wrong).
- `/account/password` and `/account/sessions`: the same as pages (forms with the CSRF token).
- A session whose password an operator set may reach only these password endpoints, the
  session read and logout (`gate.PASSWORD_CHANGE_ENDPOINTS`, enforced by the gate).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.container import container
from app.services.auth.accounts import AccountService
from app.services.auth.login_attempts import AttemptLog, Outcome, Reason
from app.services.auth.own_credentials import OwnCredentials, PasswordChange, SessionView
from app.services.auth.sessions import Principal, SessionService
from app.services.policy import Action
from app.web.gate import bound_to
from app.web.identity import (
    LOGIN_FAILED,
    THROTTLED,
    client_address,
    current_principal,
    current_session_token,
    establish,
    json_body,
)

bp = Blueprint("own_credentials", __name__)
MAX_PASSWORD = 1024
HANDLE = "<handle>"
NO_SUCH_SESSION = {"error": "not_found", "message": "You have no live session with this handle."}


def _service() -> OwnCredentials:
    parts = container()
    return OwnCredentials(
        AttemptLog(parts.key_provider), AccountService(parts.passwords), SessionService()
    )


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    return principal


def _change(current: str, new: str) -> PasswordChange:
    with container().unit() as db:
        change = _service().change_password(
            db,
            principal=_principal(),
            current=current,
            new=new,
            address=client_address(),
            token=current_session_token(),
        )
    result = change.result
    if result.outcome is Outcome.SUCCESS and result.token and result.principal:
        establish(result.token, result.principal)
    return change


def _views() -> list[SessionView]:
    with container().unit() as db:
        return _service().sessions_of(db, _principal().account_id, token=current_session_token())


def _end(handle: str, password: str) -> Outcome | None:
    """SUCCESS, FAILURE (wrong password), THROTTLED; None: no session of theirs has it."""
    with container().unit() as db:
        result = _service().end_own(
            db, principal=_principal(), handle=handle, password=password, address=client_address()
        )
    if result.outcome is Outcome.FAILURE and result.reason is Reason.BAD_REQUEST:
        return None
    return result.outcome


def _as_json(view: SessionView) -> dict[str, Any]:
    return {
        "handle": view.handle,
        "started_at": view.started_at.isoformat(),
        "last_seen_at": view.last_seen_at.isoformat(),
        "expires_at": view.expires_at.isoformat(),
        "methods": list(view.methods),
        "current": view.current,
    }


# --- API ---------------------------------------------------------------------------------------


@bp.post("/api/v1/auth/password")
@bound_to(Action.AUTH_PASSWORD_CHANGE)
def change_password() -> ResponseReturnValue:
    body = json_body("current_password", "new_password", max_length=MAX_PASSWORD)
    if body is None:
        return jsonify(
            error="bad_request",
            message="Send a JSON object with current_password and new_password.",
        ), 400
    change = _change(body["current_password"], body["new_password"])
    result = change.result
    if result.outcome is Outcome.THROTTLED:
        return jsonify(THROTTLED), 429, {"Retry-After": "60"}
    if change.policy_reasons:
        return jsonify(
            error="password_refused",
            message="The new password was refused.",
            reasons=list(change.policy_reasons),
        ), 400
    if result.outcome is not Outcome.SUCCESS or result.principal is None:
        return jsonify(LOGIN_FAILED), 403
    return jsonify(status="changed", csrf_token=result.principal.csrf_token)


@bp.get("/api/v1/auth/sessions")
@bound_to(Action.AUTH_SESSION_READ)
def sessions() -> Response:
    return jsonify(sessions=[_as_json(view) for view in _views()])


@bp.post(f"/api/v1/auth/sessions/{HANDLE}/end")
@bound_to(Action.AUTH_SESSION_END)
def end_session(handle: str) -> ResponseReturnValue:
    body = json_body("password", max_length=MAX_PASSWORD)
    if body is None:
        return jsonify(error="bad_request", message="Send a JSON object with your password."), 400
    outcome = _end(handle.lower(), body["password"])
    if outcome is Outcome.THROTTLED:
        return jsonify(THROTTLED), 429, {"Retry-After": "60"}
    if outcome is Outcome.FAILURE:
        return jsonify(LOGIN_FAILED), 403
    if outcome is None:
        return jsonify(NO_SUCH_SESSION), 404
    return jsonify(status="ended")


# --- pages -------------------------------------------------------------------------------------


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _password_page(status: int = 200, **context: object) -> Response:
    principal = _principal()
    return _page(
        "account_password.html",
        status,
        csrf_token=principal.csrf_token,
        required=principal.must_change_password,
        **context,
    )


@bp.get("/account/password")
@bound_to(Action.AUTH_PASSWORD_CHANGE)
def password_page() -> Response:
    return _password_page()


@bp.post("/account/password")
@bound_to(Action.AUTH_PASSWORD_CHANGE)
def password_form() -> ResponseReturnValue:
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    if not current or not new or len(current) > MAX_PASSWORD or len(new) > MAX_PASSWORD:
        return _password_page(400, message="Type your current and your new password.")
    if new != request.form.get("new_password_again", ""):
        return _password_page(400, message="The two new passwords differ.")
    change = _change(current, new)
    if change.result.outcome is Outcome.THROTTLED:
        return _password_page(429, message=THROTTLED["message"])
    if change.policy_reasons:
        return _password_page(400, message=" ".join(change.policy_reasons))
    if change.result.outcome is not Outcome.SUCCESS:
        return _password_page(403, message="The current password was not accepted.")
    return redirect(url_for("own_credentials.sessions_page", changed="1"), 303)


@bp.get("/account/sessions")
@bound_to(Action.AUTH_SESSION_READ)
def sessions_page() -> Response:
    return _page(
        "account_sessions.html",
        sessions=_views(),
        csrf_token=_principal().csrf_token,
        changed=request.args.get("changed") == "1",
    )


@bp.post(f"/account/sessions/{HANDLE}/end")
@bound_to(Action.AUTH_SESSION_END)
def end_session_form(handle: str) -> ResponseReturnValue:
    password = request.form.get("password", "")
    outcome = _end(handle.lower(), password[:MAX_PASSWORD]) if password else Outcome.FAILURE
    if outcome is Outcome.SUCCESS or outcome is None:
        return redirect(url_for("own_credentials.sessions_page"), 303)
    message = (
        THROTTLED["message"]
        if outcome is Outcome.THROTTLED
        else "Type your password to end a session."
    )
    return _page(
        "account_sessions.html",
        429 if outcome is Outcome.THROTTLED else 403,
        sessions=_views(),
        csrf_token=_principal().csrf_token,
        changed=False,
        message=message,
    )
