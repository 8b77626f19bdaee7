"""The caller's own session: who am I (with the CSRF token for later POSTs), and logout."""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, Response, jsonify
from werkzeug.wrappers import Response as BaseResponse

from app.container import container
from app.services.auth.sessions import SessionService
from app.services.policy import Action
from app.web.gate import bound_to
from app.web.identity import current_principal, current_session_token, forget

bp = Blueprint("session_api", __name__, url_prefix="/api/v1/auth")


@bp.get("/session")
@bound_to(Action.AUTH_SESSION_READ)
def whoami() -> Response:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    body: dict[str, object] = {
        "username": principal.username,
        "kind": principal.kind,
        "roles": sorted(principal.roles),
        "methods": sorted(principal.methods),
        "csrf_token": principal.csrf_token,
    }
    if principal.kind == "subject" and principal.subject_id is not None:
        body["subject_ref"] = str(principal.subject_id)  # the `sub` of their consent tokens
    return jsonify(body)


@bp.post("/logout")
@bound_to(Action.AUTH_SESSION_END)
def logout() -> Response:
    end_session()
    return site_data_cleared(jsonify(status="logged_out"))


#: Sent with every logout: the browser drops this origin's cookies, storage and cache (pages
#: of a report it may have kept), whatever the server-side session already ended.
R = TypeVar("R", bound=BaseResponse)
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


def site_data_cleared(response: R) -> R:
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def end_session() -> None:
    """End the caller's server-side session and clear the cookie (also the browser logout)."""
    token = current_session_token()
    if token is not None:
        with container().unit() as db:
            SessionService().end(db, token, "logout")
    forget()
