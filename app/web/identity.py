"""Who is calling: flask-login over server-side sessions, client address, login responses.

Guarantees:
- the cookie holds only the random session id (flask-login's alternative-token pattern: the
  user id *is* the session id), so ending the server-side row ends the login everywhere;
- every login replaces the session id (no fixation); logout is POST and CSRF-protected;
- `X-Forwarded-For` is believed only from configured proxy addresses;
- login failures answer one generic message whatever failed; a throttled caller gets 429.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from app.container import container
from app.services.auth.sessions import Principal, SessionService

log = logging.getLogger("creditgate.auth")
#: The session cookie. `__Host-` makes browsers accept it only with Secure, Path=/ and no
#: Domain, so no sibling host or plain-http page can set or overwrite it (browsers treat
#: http://localhost as a secure context, so development and the browser tests keep it too).
SESSION_COOKIE = "__Host-cg_session"
login_manager = LoginManager()
LOGIN_FAILED = {"error": "login_failed", "message": "Login failed."}
THROTTLED = {
    "error": "too_many_attempts",
    "message": "Too many failed attempts. Wait a minute and try again.",
}


class WebUser(UserMixin):  # type: ignore[misc]
    def __init__(self, token: str, principal: Principal) -> None:
        self._token = token
        self.principal = principal

    def get_id(self) -> str:
        return self._token


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = None  # server-side sessions do this job

    @login_manager.user_loader
    def load(token: str) -> WebUser | None:
        parts = container()
        sessions = SessionService()
        with parts.reads() as connection:  # a plain read: no write lock for the common case
            principal, needs_write = sessions.peek(connection, token)
        if needs_write:
            with parts.unit() as db:
                principal = sessions.resume(db, token)
        return None if principal is None else WebUser(token, principal)

    @app.context_processor
    def logout_everywhere() -> dict[str, str | None]:
        """Every page of a logged-in user shows the logout button (in base.html)."""
        principal = current_principal()
        return {"logged_in_csrf": principal.csrf_token if principal is not None else None}

    @login_manager.unauthorized_handler
    def unauthorized() -> tuple[Response, int]:
        return jsonify(error="authentication_required", message="Log in first."), 401


def current_principal() -> Principal | None:
    if current_user.is_authenticated:
        principal: Principal = current_user.principal
        return principal
    return None


def current_session_token() -> str | None:
    if current_user.is_authenticated:
        token: str = current_user.get_id()
        return token
    return None


def establish(token: str, principal: Principal) -> None:
    """Put a freshly started session in the cookie, discarding anything from before."""
    session.clear()
    login_user(WebUser(token, principal), remember=False, fresh=True)


def forget() -> None:
    logout_user()
    session.clear()


def client_address() -> str:
    remote = request.remote_addr or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and from_trusted_proxy(remote):
        return forwarded.split(",")[-1].strip()[:45] or remote
    return remote


def from_trusted_proxy(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    networks = container().settings.trusted_proxies
    return any(address in ipaddress.ip_network(net) for net in networks)


def json_body(*fields: str, max_length: int = 4096) -> dict[str, str] | None:
    """A JSON object whose named fields are all non-empty strings of bounded length, or None."""
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None
    picked: dict[str, str] = {}
    for name in fields:
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > max_length:
            return None
        picked[name] = value
    return picked


def bad_request(message: str) -> tuple[Response, int]:
    return jsonify(error="bad_request", message=message), 400


def debug_enabled() -> bool:
    return bool(current_app.debug)
