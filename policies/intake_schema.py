"""JSON Schema (2020-12) of the unified intake format, generated from the catalog and the intake
rules: one schema per record type (its `add` and `correct` rows, and `withdraw` rows), and one
for `consent` rows.

Guarantees: the schemas say what `policies.unified_format.check_row` accepts as far as JSON
Schema can say it (shape, keys, types, enums, patterns, bounds, the notice a type requires,
`consent_ref` when a consent-bound field is present); the checks it cannot express (check
characters, real calendar dates, dates in the future, records held, consents on record) are
named in the descriptions. A schema holds no personal data; the same catalog gives the same
schema (`$id` names the catalog version).
"""

from __future__ import annotations

from typing import Any

from policies.catalog_model import Catalog, FieldSpec, RecordType
from policies.collection_rules import CONSENT_CONCEPTS
from policies.intake_rules import IntakeRules

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_DATE = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"}
_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"}
_CITIZEN_ID = {"type": "string", "pattern": r"^\s*[0-9]{17}[0-9Xx]\s*$"}
_CREDIT_CODE = {"type": "string", "pattern": r"^\s*[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18}\s*$"}
_DEFAULT_MAX_LENGTH = {"string": 200, "text": 4000}


def _field(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.type in ("string", "text"):
        schema = {
            "type": "string",
            "minLength": 1,
            "maxLength": spec.max_length or _DEFAULT_MAX_LENGTH[spec.type],
        }
        if spec.pattern is not None:
            schema["pattern"] = f"^(?:{spec.pattern})$"
    elif spec.type == "date":
        schema = dict(_DATE)
    elif spec.type == "year_month":
        schema = {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}
    elif spec.type == "integer":
        schema = {"type": "integer"}
        if spec.minimum is not None:
            schema["minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
    elif spec.type == "money_fen":
        schema = {"type": "integer", "minimum": 0, "maximum": 10**15}
    elif spec.type == "boolean":
        schema = {"type": "boolean"}
    elif spec.type == "enum":
        schema = {"enum": list(spec.values)}
    elif spec.type == "id_number":
        schema = dict(_CITIZEN_ID)
    else:  # credit_code
        schema = dict(_CREDIT_CODE)
    schema["title"] = spec.title if spec.title_zh is None else f"{spec.title_zh} · {spec.title}"
    if spec.consent_required:
        schema["description"] = (
            "Consent-bound: only with `consent_ref` naming the subject's written consent "
            f"on record that covers {spec.concept or spec.name!r} (Art. 14)."
        )
    return schema


def _subject() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id_number", "name"],
        "properties": {
            "id_number": {**_CITIZEN_ID, "description": "GB 11643-1999, check character"},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
        },
    }


def record_type_schema(
    record_type: RecordType, catalog: Catalog, rules: IntakeRules, *, base_url: str = ""
) -> dict[str, Any]:
    """The schema of one row about `record_type` (add, correct or withdraw)."""
    fields = {spec.name: _field(spec) for spec in record_type.fields}
    required_fields = [spec.name for spec in record_type.fields if spec.required]
    consent_bound = [spec.name for spec in record_type.fields if spec.consent_required]
    notice = {
        "type": "object",
        "additionalProperties": False,
        "required": ["notified_on", "channel"],
        "properties": {
            "notified_on": {**_DATE, "description": "on or before the day of submission"},
            "channel": {"enum": list(rules.notice_channels)},
        },
        "description": "Evidence that the subject was told beforehand (Art. 15).",
    }
    record: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["op", "provider", "record_id", "type", "subject", "occurred_on", "fields"],
        "properties": {
            "op": {"enum": ["add", "correct"]},
            "provider": {**_CREDIT_CODE, "description": "the submitting provider (GB 32100)"},
            "record_id": {**_ID, "description": "the provider's own id of the record"},
            "type": {"const": record_type.code},
            "subject": _subject(),
            "occurred_on": {**_DATE, "description": "not in the future"},
            "ended_on": {"oneOf": [_DATE, {"type": "null"}]},
            "repaired_on": {"oneOf": [_DATE, {"type": "null"}]},
            "notice": notice,
            "consent_ref": _ID,
            "reason": {"enum": list(rules.correction_reasons)},
            "fields": {
                "type": "object",
                "additionalProperties": False,
                "required": required_fields,
                "properties": fields,
            },
        },
        "allOf": [
            {
                "if": {"properties": {"op": {"const": "correct"}}},
                "then": {"required": ["reason"]},
                "else": {"not": {"required": ["reason"]}},
            }
        ],
    }
    if record_type.requires_notice:
        record["required"].append("notice")
    for name in consent_bound:
        record["allOf"].append(
            {
                "if": {
                    "properties": {"fields": {"required": [name]}},
                    "required": ["fields"],
                },
                "then": {"required": ["consent_ref"]},
            }
        )
    withdraw = {
        "type": "object",
        "additionalProperties": False,
        "required": ["op", "provider", "record_id", "reason"],
        "properties": {
            "op": {"const": "withdraw"},
            "provider": _CREDIT_CODE,
            "record_id": _ID,
            "reason": {"enum": list(rules.withdrawal_reasons)},
        },
    }
    return {
        "$schema": DIALECT,
        "$id": f"{base_url}/api/v1/intake/schema/{record_type.code}?catalog={catalog.version}",
        "title": f"{record_type.title_zh} · {record_type.title} ({record_type.code})",
        "description": (
            "One row of a batch in the unified format (JSON Lines: one object a line). "
            + ("Negative record: needs prior notice. " if record_type.requires_notice else "")
            + "Also checked at intake: check characters, real dates, the provider's own "
            "records, consents on record, the name on record for the ID number."
        ),
        "oneOf": [record, withdraw],
    }


def consent_schema(catalog: Catalog, *, base_url: str = "") -> dict[str, Any]:
    """The schema of a `consent` row: a written consent to collection, on record."""
    return {
        "$schema": DIALECT,
        "$id": f"{base_url}/api/v1/intake/schema/consent?catalog={catalog.version}",
        "title": "书面同意 · Written consent to collection",
        "type": "object",
        "additionalProperties": False,
        "required": ["op", "provider", "consent_ref", "subject", "signed_on", "concepts"],
        "properties": {
            "op": {"const": "consent"},
            "provider": _CREDIT_CODE,
            "consent_ref": {**_ID, "description": "the provider's reference of the document"},
            "subject": _subject(),
            "signed_on": {**_DATE, "description": "not in the future"},
            "concepts": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": sorted(CONSENT_CONCEPTS)},
            },
        },
    }
