"""Liveness and readiness. Readiness proves schema, database and HSM keys work, or says 503."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.container import container
from app.services.health import check_ready, schema_head
from app.services.policy import Action
from app.web.gate import bound_to, public

bp = Blueprint("health", __name__)
_HEAD = schema_head()


@bp.get("/healthz")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
def readyz() -> Response:
    parts = container()
    with parts.unit() as session:
        check_ready(session, parts.key_provider, _HEAD, role=parts.settings.database_role)
    return jsonify(status="ready", catalog_version=parts.catalog.version)
