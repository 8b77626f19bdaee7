"""The API's OpenAPI 3.1 description, served as checked in (`app/openapi.json`).

A side serves only its own operations: the registry's document lists no portal operation and
the portal's none of the registry's (policies/data/sides.toml); `combined` (development) serves
the checked-in document unchanged.

The suite validates every response it receives against this document (tests/openapi_check.py),
and a test holds the document and the URL map to each other, so it cannot drift from the code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Blueprint, Response, current_app

from app.container import container
from app.services.policy import Action
from app.services.sides import side_document
from app.web.gate import action_of, bound_to, public

bp = Blueprint("openapi", __name__)
DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"


@cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


@bp.get("/api/v1/openapi.json")
@bound_to(Action.SERVICE_OPENAPI_READ)
@public
def openapi_document() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cached: bytes | None = app.extensions.get("creditgate.openapi")
    if cached is None:
        side = container(app).settings.side.value
        cached = side_document(_document(), side, lambda endpoint: action_of(app, endpoint))
        app.extensions["creditgate.openapi"] = cached
    return Response(cached, mimetype="application/json")
