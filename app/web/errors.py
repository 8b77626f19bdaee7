"""Errors answer with a short JSON body and never with internals, keys, PINs or payloads.

An HTTP error keeps the headers Werkzeug gives it (`Allow` on a 405, `Retry-After`, …): only
its body becomes JSON.

Fail closed: when the HSM or the database cannot do its part the answer is 503 and nothing
else; the exception is logged by type only (its message could name a label but never a secret,
and we still keep it out of the response).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from app.services.failures import DATABASE_FAILURES, KEY_FAILURES
from app.services.health import NotReady
from app.web.pages import problem, wants_page

log = logging.getLogger("creditgate.web")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        response = (
            problem(code, name) if wants_page() else jsonify(error=name, message=exc.description)
        )
        for header, value in exc.get_headers():  # e.g. Allow on 405, Retry-After on 429
            if header.lower() != "content-type":
                response.headers[header] = value
        return response, code

    def key_failure(exc: Exception) -> tuple[Response, int]:
        log.error("key or sealed-value failure: %s", type(exc).__name__)
        return unavailable()

    def not_ready(exc: Exception) -> tuple[Response, int]:
        log.error("not ready: %s", exc)
        return unavailable()

    for failure in KEY_FAILURES:
        app.register_error_handler(failure, key_failure)
    for failure in DATABASE_FAILURES:
        app.register_error_handler(failure, database_failure)
    app.register_error_handler(NotReady, not_ready)


def database_failure(exc: Exception) -> tuple[Response, int]:
    """The 503 for a database that could not do its part; the exception is logged by type."""
    log.error("database failure: %s", type(exc).__name__)
    return unavailable()


def unavailable() -> tuple[Response, int]:
    if wants_page():
        page = problem(503, "service_unavailable")
        page.headers["Retry-After"] = "30"
        return page, 503
    body = jsonify(
        error="service_unavailable",
        message="The service cannot answer safely right now; nothing was disclosed.",
    )
    body.headers["Retry-After"] = "30"
    return body, 503
