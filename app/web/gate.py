"""The login gate: every endpoint is denied unless it is explicitly declared public.

- Views opt out of the login requirement with `@public`; anything else answers 401 without a
  live session (outside `/api/`, where browsers navigate, a 302 to the login page instead).
  A route added without thinking is therefore closed, not open.
- A view whose action belongs to the other side (policies/data/sides.toml) answers 404, as if the
  route did not exist, before any login is asked for: the registry offers none of the portal's
  routes and the portal none of the registry's.
- Every view is bound to exactly one policy action with `@bound_to(Action.…)`; a request that
  reaches a view bound to none is refused (500, logged), and a test walks the URL map.
- Every state-changing request (POST, PUT, PATCH, DELETE) made with a session cookie must carry
  that session's CSRF token (`X-CSRF-Token` header or `csrf_token` form field), unless the view
  is `@csrf_exempt` because it authenticates otherwise (login signatures, bearer tokens).
- A view that takes uploads declares its own body limit with `@body_limit(n)`: it holds from
  before the gate reads a form (for its CSRF token) on, in place of the application's 64 KiB; a
  form larger than it is refused with a clear 413 before anything reads it further.
- Security headers go on every response (CSP with `object-src 'none'; base-uri 'none';
  frame-ancestors 'none'; form-action 'self'`, HSTS with `includeSubDomains`, nosniff, no
  framing, no referrer), and API responses are never cached.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, abort, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from app.container import container
from app.services.policy import Action
from app.services.sides import serves
from app.web import security_events
from app.web.bodies import BODY_LIMIT_ATTRIBUTE, body_limit_of
from app.web.identity import current_principal
from app.web.pages import problem

F = TypeVar("F", bound=Callable[..., object])
log = logging.getLogger("creditgate.web")
PUBLIC_ATTRIBUTE = "_creditgate_public"
CSRF_EXEMPT_ATTRIBUTE = "_creditgate_csrf_exempt"
ACTION_ATTRIBUTE = "_creditgate_action"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PAGE = "/login/card"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
#: What a session whose password an operator set may still reach: changing it, reading the
#: session, logging out. Every other request is refused (API: 403 `password_change_required`;
#: pages: a redirect to the form).
PASSWORD_CHANGE_ENDPOINTS = frozenset(
    {
        "own_credentials.change_password",
        "own_credentials.password_page",
        "own_credentials.password_form",
        "session_api.whoami",
        "session_api.logout",
        "browser.account_logout",
        "static",
    }
)
PASSWORD_PAGE = "/account/password"  # noqa: S105 - a page path
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def public(view: F) -> F:
    """Mark a view as reachable without a login (it must disclose nothing personal)."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


def bound_to(action: Action) -> Callable[[F], F]:
    """Bind a view to its one policy action (the action its decisions and log entries name)."""

    def bind(view: F) -> F:
        if getattr(view, ACTION_ATTRIBUTE, None) is not None:
            raise ValueError(f"{getattr(view, '__name__', view)} is already bound to an action")
        setattr(view, ACTION_ATTRIBUTE, Action(action))
        return view

    return bind


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Let the view's requests carry bodies of up to `max_bytes` (uploads); larger is 413."""
    if max_bytes < 1:
        raise ValueError("a body limit is a positive number of bytes")

    def mark(view: F) -> F:
        setattr(view, BODY_LIMIT_ATTRIBUTE, max_bytes)
        return view

    return mark


def too_large(limit: int | None) -> ResponseReturnValue:
    """The 413 of a body over its limit, as a page for a form and as JSON for the API."""
    log.warning("request body over its limit refused: %s", request.endpoint)
    said = "" if limit is None else f" (at most {limit} bytes)"
    if not request.path.startswith("/api/"):
        return problem(413, "request_entity_too_large", detail=said.strip(" ()"))
    return jsonify(
        error="request_entity_too_large", message=f"The request body is too large{said}."
    ), 413


def action_of(app: Flask, endpoint: str | None) -> Action | None:
    """The action the endpoint's view is bound to, or None."""
    if endpoint is None:
        return None
    view = app.view_functions.get(endpoint)
    found = getattr(view, ACTION_ATTRIBUTE, None)
    return found if isinstance(found, Action) else None


def csrf_exempt(view: F) -> F:
    """Mark a view that authenticates each request itself (signature, bearer token)."""
    setattr(view, CSRF_EXEMPT_ATTRIBUTE, True)
    return view


def _flag(app: Flask, endpoint: str | None, attribute: str) -> bool:
    if endpoint is None:
        return False
    view = app.view_functions.get(endpoint)
    return bool(view is not None and getattr(view, attribute, False))


def is_public(app: Flask, endpoint: str | None) -> bool:
    return endpoint == "static" or _flag(app, endpoint, PUBLIC_ATTRIBUTE)


def is_csrf_exempt(app: Flask, endpoint: str | None) -> bool:
    return _flag(app, endpoint, CSRF_EXEMPT_ATTRIBUTE)


def init_app(app: Flask) -> None:
    @app.before_request
    def deny_unless_public() -> ResponseReturnValue | None:
        if request.url_rule is None:
            return None  # 404/405 handled by the router
        action = action_of(app, request.endpoint)
        if request.endpoint != "static" and action is None:
            log.error("view %s is bound to no policy action: refused", request.endpoint)
            return jsonify(error="unbound_route", message="This route is not available."), 500
        if action is not None and not serves(container(app).settings.side.value, action):
            security_events.record("access.denied", "other_side", status=404)
            abort(404)
        limit = body_limit_of(app, request.endpoint)
        if limit is not None:
            request.max_content_length = limit
        principal = current_principal()
        if principal is None:
            if is_public(app, request.endpoint):
                return None
            if not request.path.startswith("/api/"):
                return redirect(LOGIN_PAGE, 302)
            security_events.record("authn.required", "no_session", status=401)
            return jsonify(error="authentication_required", message="Log in first."), 401
        if request.method in UNSAFE_METHODS and not is_csrf_exempt(app, request.endpoint):
            try:
                sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
            except RequestEntityTooLarge:  # the token cannot be read: nothing else will be
                return too_large(limit)
            if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
                reason = "missing_token" if not sent else "wrong_token"
                security_events.record("csrf.failed", reason, status=403)
                if not request.path.startswith("/api/"):  # a form: say so on a page
                    return problem(403, "csrf_failed")
                return jsonify(error="csrf_failed", message="Missing or wrong CSRF token."), 403
        if principal.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            if not request.path.startswith("/api/"):
                return redirect(PASSWORD_PAGE, 303)
            security_events.record("access.denied", "password_change_required", status=403)
            return jsonify(
                error="password_change_required",
                message="The password was set for you: change it first.",
            ), 403
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        # Also sent by the proxy; browsers ignore it over plain http (development).
        response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response
