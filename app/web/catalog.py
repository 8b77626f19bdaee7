"""The credit information catalog (信用信息目录) is public by law: which types exist and how
they are disclosed. It discloses nothing about any subject."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify

from app.container import container
from app.services.catalog import describe_catalog, describe_entry
from app.services.policy import Action
from app.web.gate import bound_to, public

bp = Blueprint("catalog", __name__, url_prefix="/api/v1/catalog")


@bp.get("")
@bound_to(Action.SERVICE_CATALOG_READ)
@public
def catalog_index() -> Response:
    return jsonify(describe_catalog(container().catalog))


@bp.get("/<string:code>")
@bound_to(Action.SERVICE_CATALOG_READ)
@public
def catalog_entry(code: str) -> Response:
    entry = describe_entry(container().catalog, code)
    if entry is None:
        abort(404, description="No such record type in the catalog.")
    return jsonify(entry)
