"""The web plumbing every query endpoint shares: refusals and request ids.

Guarantees:
- `refusal(decision)` maps a refusing decision to the status and JSON body of the refusal table
  in docs/queries.md; a `not_found` body is the same whatever the reason (the caller cannot tell
  a missing resource from one it may not know about), and no body names a record, an ID number
  or a value. Passing an allowing decision is a programming error (`ValueError`).
- `request_id()` is one id per request: a fresh uuid4, unless the request came from a trusted
  proxy with an `X-Request-Id` of at most 64 characters from [A-Za-z0-9-]; anything else sent is
  ignored. Every response carries it back as `X-Request-Id`.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, jsonify, request

from app.services.policy import Decision, Outcome
from app.web.identity import from_trusted_proxy

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_G_KEY = "creditgate_request_id"

_REFUSALS: dict[Outcome, tuple[int, str, str]] = {
    Outcome.UNAUTHENTICATED: (401, "authentication_required", "Log in first."),
    Outcome.STEP_UP: (
        403,
        "step_up_required",
        "This needs a stronger login; log in again with your card (staff: with TOTP).",
    ),
    Outcome.DENY: (403, "forbidden", "You may not do this."),
    Outcome.NOT_FOUND: (404, "not_found", "Not found."),
}


def refusal(decision: Decision) -> tuple[Response, int]:
    """The JSON refusal and status for a refusing decision (see the module guarantees)."""
    if decision.allowed:
        raise ValueError("an allowing decision is not a refusal")
    status, error, message = _REFUSALS[decision.outcome]
    body: dict[str, str] = {"error": error, "message": message}
    if decision.outcome is Outcome.DENY:
        body["reason"] = decision.reason
    return jsonify(body), status


def limit_reached() -> tuple[Response, int]:
    """429: the per-account daily limit of this action is used up."""
    message = "The daily limit for this query is reached; try again tomorrow."
    return jsonify(error="daily_limit_reached", message=message), 429


def payment_required(order_id: str) -> tuple[Response, int]:
    """402: the answer needs a paid order; the body names the order to pay."""
    body = {
        "error": "payment_required",
        "message": "This report needs a paid order.",
        "order_id": order_id,
    }
    return jsonify(body), 402


def request_id() -> str:
    """This request's id (see the module guarantees); stable within the request."""
    found = g.get(_G_KEY)
    if isinstance(found, str):
        return found
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    if sent and _REQUEST_ID.fullmatch(sent) and from_trusted_proxy(request.remote_addr):
        chosen = sent
    else:
        chosen = str(uuid.uuid4())
    setattr(g, _G_KEY, chosen)
    return chosen


def init_app(app: Flask) -> None:
    @app.after_request
    def echo_request_id(response: Response) -> Response:
        if has_request_context():
            response.headers[REQUEST_ID_HEADER] = request_id()
        return response
