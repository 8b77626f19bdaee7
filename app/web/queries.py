"""Request ids.

Guarantees:
- `request_id()` is one id per request: a fresh uuid4, unless the request came from a trusted
  proxy with an `X-Request-Id` of at most 64 characters from [A-Za-z0-9-]; anything else sent is
  ignored. Every response carries it back as `X-Request-Id`.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

from app.web.identity import from_trusted_proxy

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_G_KEY = "creditgate_request_id"


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
