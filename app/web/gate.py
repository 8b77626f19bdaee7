"""The login gate: every endpoint is denied unless it is explicitly declared public.

Views opt out with `@public`; anything else answers 401 until the login issue adds sessions.
A route added without thinking is therefore closed, not open. Security headers go on every
response, and API responses are never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, jsonify, request

F = TypeVar("F", bound=Callable[..., object])
PUBLIC_ATTRIBUTE = "_creditgate_public"


def public(view: F) -> F:
    """Mark a view as reachable without a login (it must disclose nothing personal)."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


def is_public(app: Flask, endpoint: str | None) -> bool:
    if endpoint is None:
        return False
    if endpoint == "static":
        return True
    view = app.view_functions.get(endpoint)
    return bool(view is not None and getattr(view, PUBLIC_ATTRIBUTE, False))


def init_app(app: Flask) -> None:
    @app.before_request
    def deny_unless_public() -> Response | tuple[Response, int] | None:
        if request.url_rule is None:
            return None  # 404/405 handled by the router
        if is_public(app, request.endpoint):
            return None
        return jsonify(error="authentication_required", message="Log in first."), 401

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response
