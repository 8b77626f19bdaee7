"""The catalog version: the hash every decision names to say which catalog it was made under.

Guarantees: `catalog_version` is the SHA-256 (hex) of the canonical JSON of the parsed,
defaults-applied catalog (keys sorted, record types keyed by code, no insignificant whitespace,
UTF-8). It depends only on meaning: formatting, comments and the order of record types in the
file do not change it; any change to a field, a mask, a retention rule or a title does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from policies.catalog_model import FieldSpec, RecordType
from policies.retention import RetentionRule

_RULE_KEYS = ("kind", "years", "min_months", "max_months", "destroy_years_after_end")


def _rule_json(rule: RetentionRule) -> dict[str, Any]:
    return {k: getattr(rule, k) for k in _RULE_KEYS}


def _field_json(spec: FieldSpec) -> dict[str, Any]:
    body = {k: getattr(spec, k) for k in FieldSpec.__dataclass_fields__ if k != "mask_by_tier"}
    body["values"] = list(spec.values)
    body["masks"] = dict(spec.mask_by_tier)
    return body


def canonical_json(
    schema: int,
    title: str,
    title_zh: str,
    rules: Mapping[str, RetentionRule],
    types: Mapping[str, RecordType],
) -> bytes:
    """The canonical JSON encoding of a parsed catalog, as hashed by `catalog_version`."""
    doc = {
        "schema": schema,
        "title": title,
        "title_zh": title_zh,
        "retention": {name: _rule_json(r) for name, r in rules.items()},
        "record_types": {
            code: {
                "category": t.category,
                "title": t.title,
                "title_zh": t.title_zh,
                "disclosure": t.disclosure,
                "negative": t.negative,
                "retention": t.retention.name,
                "requires_notice": t.requires_notice,
                "fields": [_field_json(f) for f in t.fields],
            }
            for code, t in types.items()
        },
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def catalog_version(
    schema: int,
    title: str,
    title_zh: str,
    rules: Mapping[str, RetentionRule],
    types: Mapping[str, RecordType],
) -> str:
    """The SHA-256 (hex) of `canonical_json` for these parts."""
    return hashlib.sha256(canonical_json(schema, title, title_zh, rules, types)).hexdigest()
