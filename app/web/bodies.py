"""Request bodies, the same way for every endpoint, before any view reads them.

Guarantees:
- every JSON body is parsed by `app.strict_json`: UTF-8 only (no byte-order mark, no UTF-16
  or UTF-32), and a body nested deeper than the parser's stack is malformed input: the view
  answers it as any other malformed body (400, or whatever it answers before a login), never
  with a 5xx;
- the size limit (`MAX_CONTENT_LENGTH`, or the route's own `@body_limit`) holds for a body
  sent without `Content-Length` (`Transfer-Encoding: chunked`) exactly as for one that
  declares its length: such a body is read here up to one byte past the limit of the route it
  is sent to, and if it is longer the application sees a body longer than the limit (413),
  never a body cut short at the limit (which would parse as a malformed or, worse, a different
  request). At most limit + 1 bytes are held in memory;
- `not_json_message(default)` gives a view the precise reason a body's encoding was refused
  (for the 400 it answers), or its own default message.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_content_length

from app import strict_json

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, parsing with `app.strict_json.loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_json.loads(s)


#: where `app.web.gate.body_limit` marks a view's own body limit
BODY_LIMIT_ATTRIBUTE = "_creditgate_body_limit"


def body_limit_of(app: Flask, endpoint: str | None) -> int | None:
    """The body limit the endpoint's view declared, or None (the application's applies)."""
    view = None if endpoint is None else app.view_functions.get(endpoint)
    found = getattr(view, BODY_LIMIT_ATTRIBUTE, None)
    return found if isinstance(found, int) else None


def route_limit(app: Flask, default: int) -> Callable[[WSGIEnvironment], int]:
    """The body limit of the route a request goes to (`default` when it names none)."""

    def limit_for(environ: WSGIEnvironment) -> int:
        try:
            endpoint, _ = app.url_map.bind_to_environ(environ).match()
        except HTTPException:  # no such route, another method, a redirect: the default
            return default
        return body_limit_of(app, str(endpoint)) or default

    return limit_for


class BoundedChunkedBody:
    """WSGI middleware: a chunked request body becomes a body of known length (see the
    module guarantees). Every other request passes through untouched."""

    def __init__(
        self, wsgi_app: WSGIApplication, limit: int | Callable[[WSGIEnvironment], int]
    ) -> None:
        self.wsgi_app = wsgi_app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and environ.get("wsgi.input_terminated") and get_content_length(environ) is None:
            limit = self.limit if isinstance(self.limit, int) else self.limit(environ)
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream: Any, size: int) -> bytes:
    """Up to `size` bytes from a WSGI input stream (whose `read(n)` may return fewer)."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(min(left, 65536))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def not_json_message(default: str) -> str:
    """Why this request's body was refused as JSON, when its encoding is the reason; else
    `default`. Call it only after the body was read (it is cached then)."""
    problem = strict_json.encoding_problem(request.get_data(cache=True))
    return problem if problem is not None else default


def init_app(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None:
        bounded = BoundedChunkedBody(app.wsgi_app, route_limit(app, int(limit)))
        app.wsgi_app = bounded  # type: ignore[method-assign]
