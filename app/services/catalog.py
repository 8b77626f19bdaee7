"""The public description of the catalog (信用信息目录): types and disclosure, no subject data."""

from __future__ import annotations

from typing import Any

from policies.catalog import Catalog, RecordType


def describe_record_type(record_type: RecordType) -> dict[str, Any]:
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


def describe_catalog(catalog: Catalog) -> dict[str, Any]:
    return {
        "version": catalog.version,
        "record_types": [describe_record_type(rt) for rt in catalog.record_types.values()],
    }


def describe_entry(catalog: Catalog, code: str) -> dict[str, Any] | None:
    record_type = catalog.record_types.get(code)
    if record_type is None:
        return None
    return {"version": catalog.version, "record_type": describe_record_type(record_type)}
