"""Liveness and readiness. Readiness proves the database and the HSM answer, or says 503."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from app.container import container
from app.web.gate import public
from crypto.keys import MacKey

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> Response:
    parts = container()
    with parts.sessions() as session:
        session.execute(text("SELECT 1"))
    parts.key_provider.hmac_sha256(MacKey.BLIND_INDEX, b"cg1-readiness")
    return jsonify(status="ready", catalog_version=parts.catalog.version)
