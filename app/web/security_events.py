"""Security events: authentication and authorisation refusals as structured log records.

Guarantees (docs/logs.md lists every event type and field):
- every 401 and 403 the service answers is one `creditgate.security` record with an event type
  and a reason code: `csrf.failed`, `authn.required` (the gate: no live session),
  `bearer.refused` (a missing, unknown, expired, revoked or under-scoped bearer token; reason
  the RFC 6750 error or `no_token`), and `access.denied` / `authn.failed` for every other 403 /
  401 (reason: the error code of the answer, e.g. `login_failed`, `forbidden`);
- each record carries the request id, method, path, endpoint and client address; never a
  token, cookie, password, PIN, OTP or body;
- a request leaves at most one such record.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, has_request_context, request

from app.web.identity import client_address
from app.web.queries import request_id

log = logging.getLogger("creditgate.security")
_G_KEY = "creditgate_security_event"


def record(event: str, reason: str, *, status: int) -> None:
    """Log one security event for the current request (the first one only)."""
    if g.get(_G_KEY):
        return
    setattr(g, _G_KEY, event)
    log.warning(
        "%s: %s",
        event,
        reason,
        extra={
            "event": event,
            "reason": reason,
            "status": status,
            "method": request.method,
            "path": request.path[:200],
            "endpoint": request.endpoint or "",
            "client_address": client_address(),
            "request_id": request_id(),
        },
    )


def current_request_id() -> str | None:
    return request_id() if has_request_context() else None


def init_app(app: Flask) -> None:
    @app.after_request
    def refusals(response: Response) -> Response:
        if response.status_code in (401, 403) and not g.get(_G_KEY):
            event = "authn.failed" if response.status_code == 401 else "access.denied"
            record(event, _reason(response), status=response.status_code)
        return response


def _reason(response: Response) -> str:
    if response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])[:64]
    return "unauthorized" if response.status_code == 401 else "forbidden"
