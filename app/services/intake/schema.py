"""The intake rules and the unified format's JSON Schemas as the web layer sees them (the web
layer does not import `policies/`)."""

from __future__ import annotations

from typing import Any

from policies.catalog import Catalog
from policies.intake_rules import IntakeRules, default_intake_rules
from policies.intake_schema import consent_schema, record_type_schema


def intake_rules() -> IntakeRules:
    return default_intake_rules()


def row_schema(catalog: Catalog, code: str, *, base_url: str = "") -> dict[str, Any] | None:
    """The schema of a row about record type `code` (or `consent`); None for an unknown code."""
    if code == "consent":
        return consent_schema(catalog, base_url=base_url)
    record_type = catalog.get(code)
    if record_type is None:
        return None
    return record_type_schema(record_type, catalog, intake_rules(), base_url=base_url)
