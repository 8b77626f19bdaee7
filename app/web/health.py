"""Liveness and readiness. Readiness proves schema, database and HSM keys work, or says 503.

The HSM part is probed at most once per 30 s per process (`services.health.HsmProbe`), so an
anonymous caller cannot make the HSM work; the proxy also admits `/readyz` only from the
monitoring addresses (docs/nginx-mtls.conf)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.container import container
from app.services.health import HsmProbe, check_ready, schema_head
from app.services.policy import Action
from app.settings import Mode
from app.web.gate import bound_to, public

bp = Blueprint("health", __name__)
_HEAD = schema_head()
_PROBE = "creditgate.readiness_probe"


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
    probe = current_app.extensions.get(_PROBE)
    if not isinstance(probe, HsmProbe):
        probe = current_app.extensions.setdefault(_PROBE, HsmProbe(parts.key_provider))
    with parts.unit() as session:
        check_ready(
            session,
            parts.key_provider,
            _HEAD,
            role=parts.settings.database_role,
            probe=probe,
            production=parts.settings.mode is Mode.PRODUCTION,
        )
    return jsonify(status="ready", catalog_version=parts.catalog.version)
