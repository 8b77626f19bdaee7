"""A route's own body limit (`@body_limit`, for uploads) holds for a chunked body exactly as
for one with a length: read whole up to the route's limit (not cut at the application's
64 KiB), refused with 413 one byte past it; routes without their own limit keep 64 KiB."""

from __future__ import annotations

import io

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from app.web import bodies
from app.web.gate import body_limit

APP_LIMIT, ROUTE_LIMIT = 64 * 1024, 200 * 1024


def _app() -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = APP_LIMIT

    def size() -> ResponseReturnValue:
        try:
            return jsonify(size=len(request.get_data()))
        except RequestEntityTooLarge:
            return jsonify(error="request_entity_too_large"), 413

    @app.post("/upload")
    @body_limit(ROUTE_LIMIT)
    def upload() -> ResponseReturnValue:
        request.max_content_length = ROUTE_LIMIT  # what the gate does for a marked view
        return size()

    @app.post("/plain")
    def plain() -> ResponseReturnValue:
        return size()

    bodies.init_app(app)
    return app


def _chunked(app: Flask, path: str, size: int) -> tuple[int, object]:
    response = app.test_client().post(
        path,
        input_stream=io.BytesIO(b"x" * size),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    return response.status_code, response.get_json()


def test_a_chunked_upload_is_read_whole_up_to_the_routes_own_limit() -> None:
    app = _app()
    assert _chunked(app, "/upload", 100 * 1024) == (200, {"size": 100 * 1024})
    assert _chunked(app, "/upload", ROUTE_LIMIT) == (200, {"size": ROUTE_LIMIT})
    assert _chunked(app, "/upload", ROUTE_LIMIT + 1)[0] == 413


def test_routes_without_their_own_limit_keep_the_applications() -> None:
    app = _app()
    assert _chunked(app, "/plain", APP_LIMIT) == (200, {"size": APP_LIMIT})
    assert _chunked(app, "/plain", APP_LIMIT + 1)[0] == 413
    assert _chunked(app, "/nowhere", 100 * 1024)[0] == 404
