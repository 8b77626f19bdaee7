"""The credit information catalog (信用信息目录) is public by law: which types exist and how
they are disclosed. It discloses nothing about any subject."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify

from app.container import container
from app.web.gate import public
from policies.catalog import RecordType

bp = Blueprint("catalog", __name__, url_prefix="/api/v1/catalog")


def _describe(record_type: RecordType) -> dict[str, Any]:
    return {
        "code": record_type.code,
        "category": record_type.category,
        "title": record_type.title,
        "title_zh": record_type.title_zh,
        "disclosure": record_type.disclosure,
        "negative": record_type.negative,
        "retention": record_type.retention.name,
        "fields": [
            {"name": f.name, "type": f.type, "sensitive": f.sensitive} for f in record_type.fields
        ],
    }


@bp.get("")
@public
def catalog_index() -> Response:
    catalog = container().catalog
    return jsonify(
        version=catalog.version,
        record_types=[_describe(rt) for rt in catalog.record_types.values()],
    )


@bp.get("/<string:code>")
@public
def catalog_entry(code: str) -> Response:
    record_type = container().catalog.record_types.get(code)
    if record_type is None:
        abort(404, description="No such record type in the catalog.")
    return jsonify(version=container().catalog.version, record_type=_describe(record_type))
