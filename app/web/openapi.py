"""The API's OpenAPI 3.1 description, served as checked in (`app/openapi.json`).

The suite validates every response it receives against this document (tests/openapi_check.py),
and a test holds the document and the URL map to each other, so it cannot drift from the code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Blueprint, Response

from app.services.policy import Action
from app.web.gate import bound_to, public

bp = Blueprint("openapi", __name__)
DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"


@cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


@bp.get("/api/v1/openapi.json")
@bound_to(Action.SERVICE_OPENAPI_READ)
@public
def openapi_document() -> Response:
    return Response(_document(), mimetype="application/json")
