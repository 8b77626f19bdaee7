"""The credit information catalog (信用信息目录): every record type the service holds.

Guarantees:
- `load_catalog` returns a catalog only if the whole file is valid; otherwise it raises one
  `CatalogError` whose message names the file, the record type code and the field (or the
  retention rule) at fault, and quotes at most the offending declaration (the catalog holds no
  personal data).
- No field can declare a prohibited concept (religion, genes, fingerprints, blood type, disease,
  medical history); a field with consent-bound semantics (income, deposits, securities, insurance,
  real estate, tax amounts) must declare `consent_required = true`; an ID number is always
  sensitive; a sensitive field is never shown unmasked to the public tier; a negative record type
  has a retention rule that ends, and requires prior notice unless it is public by law.
- `Catalog.version` is the SHA-256 (hex) of the canonical JSON of the parsed, defaults-applied
  catalog (keys sorted, record types keyed by code; see `policies.catalog_version`). Reformatting
  the file, editing comments or reordering record types does not change it; any change of meaning
  (a field, a mask, a rule, a title) does. Every decision names the version it was made under.
- The model (`Catalog`, `RecordType`, `FieldSpec`) is immutable and re-exported here.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import cast

from policies.catalog_model import (
    CATEGORIES,
    DEFAULT_MASKS,
    DISCLOSURES,
    FIELD_TYPES,
    MASK_KINDS,
    TIERS,
    Catalog,
    Category,
    Disclosure,
    FieldSpec,
    FieldType,
    MaskKind,
    RecordType,
    Tier,
)
from policies.catalog_version import catalog_version
from policies.collection_rules import (
    CONSENT_RULE,
    PROHIBITED_RULE,
    consent_concept,
    prohibited_concept,
)
from policies.payload import PayloadError, validate_payload
from policies.retention import RETENTION_KINDS, RetentionKind, RetentionRule
from policies.toml_tables import ErrorFactory, StrictTable

__all__ = [
    "CATEGORIES",
    "DEFAULT_MASKS",
    "DISCLOSURES",
    "FIELD_TYPES",
    "MASK_KINDS",
    "TIERS",
    "Catalog",
    "CatalogError",
    "FieldSpec",
    "PayloadError",
    "RecordType",
    "default_catalog",
    "load_catalog",
    "parse_catalog",
    "validate_payload",
]

_TEXTUAL: frozenset[FieldType] = frozenset({"string", "text", "id_number", "credit_code"})
_MASK_APPLIES: Mapping[MaskKind, frozenset[FieldType]] = {
    "none": frozenset(FIELD_TYPES),
    "redact": frozenset(FIELD_TYPES),
    "hash": _TEXTUAL,
    "first6_last4": _TEXTUAL - {"text"},
    "last4": _TEXTUAL - {"text"},
    "year_only": frozenset({"date", "year_month"}),
}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
_CODE = re.compile(r"([A-D])\.([a-z][a-z0-9_]{0,47})")
_DEFAULT_CATALOG = "catalog.toml"


class CatalogError(ValueError):
    """The catalog file is invalid; the message names file, record type and field."""


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------


def _error_at(source: str, *where: str) -> ErrorFactory:
    prefix = ": ".join((source, " ".join(where))) if where else source
    return lambda problem: CatalogError(f"{prefix}: {problem}")


def _choice(value: str, allowed: tuple[str, ...], what: str, error: ErrorFactory) -> str:
    if value not in allowed:
        raise error(f"unknown {what} {value!r} (expected one of: {', '.join(allowed)})")
    return value


def _masks(
    raw: object, *, base: Mapping[Tier, MaskKind], error: ErrorFactory
) -> dict[Tier, MaskKind]:
    masks = dict(base)
    if raw is None:
        return masks
    table = StrictTable(raw, allowed=TIERS, error=lambda p: error(f"mask: {p}"))
    for tier in TIERS:
        kind = table.optional_text(tier)
        if kind is not None:
            masks[tier] = cast(MaskKind, _choice(kind, MASK_KINDS, "mask kind", error))
    return masks


_FIELD_KEYS = (
    "name",
    "type",
    "title",
    "title_zh",
    "concept",
    "sensitive",
    "required",
    "consent_required",
    "values",
    "pattern",
    "max_length",
    "min",
    "max",
    "mask",
)


def _parse_field(
    raw: object, *, source: str, code: str, index: int, record_masks: Mapping[Tier, MaskKind]
) -> FieldSpec:
    name_guess = raw.get("name") if isinstance(raw, dict) else None
    label = f"field {name_guess!r}" if isinstance(name_guess, str) else f"field #{index + 1}"
    error = _error_at(source, f"record_type {code!r}", label)
    t = StrictTable(raw, allowed=_FIELD_KEYS, error=error)
    name = t.text("name")
    if not _NAME.fullmatch(name):
        raise error("a field name is snake_case: lower-case letters, digits and underscores")
    ftype = cast(FieldType, _choice(t.text("type"), FIELD_TYPES, "type", error))
    spec = FieldSpec(
        name=name,
        type=ftype,
        title=t.text("title"),
        title_zh=t.optional_text("title_zh"),
        concept=t.optional_text("concept"),
        sensitive=t.flag("sensitive", default=True),
        required=t.flag("required", default=True),
        consent_required=t.flag("consent_required", default=False),
        values=t.texts("values"),
        pattern=t.optional_text("pattern"),
        max_length=t.optional_integer("max_length"),
        minimum=t.optional_integer("min"),
        maximum=t.optional_integer("max"),
        mask_by_tier=tuple(_masks(t.raw("mask"), base=record_masks, error=error).items()),
    )
    _check_field(spec, error)
    return spec


def _check_field(spec: FieldSpec, error: ErrorFactory) -> None:
    if spec.concept is not None and not _NAME.fullmatch(spec.concept):
        raise error("a concept is snake_case")
    banned = prohibited_concept(spec.name, spec.concept, spec.title, spec.title_zh)
    if banned is not None:
        raise error(f"collecting {banned} is prohibited ({PROHIBITED_RULE})")
    bound = consent_concept(spec.concept, spec.name, spec.title, spec.title_zh)
    if bound is not None and not spec.consent_required:
        raise error(
            f"has {bound} semantics and must declare consent_required = true ({CONSENT_RULE})"
        )
    if spec.type == "enum":
        if not spec.values:
            raise error("an enum field needs a non-empty 'values' list")
        if len(set(spec.values)) != len(spec.values):
            raise error("enum 'values' contain a duplicate")
    elif spec.values:
        raise error("only enum fields take 'values'")
    if spec.pattern is not None:
        if spec.type != "string":
            raise error("only string fields take a 'pattern'")
        try:
            re.compile(spec.pattern)
        except re.error:
            raise error("'pattern' is not a valid regular expression") from None
    if spec.max_length is not None and (spec.type not in ("string", "text") or spec.max_length < 1):
        raise error("'max_length' is a positive integer on string or text fields")
    if (spec.minimum is not None or spec.maximum is not None) and spec.type != "integer":
        raise error("only integer fields take 'min' and 'max'")
    if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
        raise error("'min' exceeds 'max'")
    if spec.type == "id_number" and not spec.sensitive:
        raise error("an id_number field is always sensitive")
    for tier, kind in spec.mask_by_tier:
        if spec.type not in _MASK_APPLIES[kind]:
            raise error(f"mask kind {kind!r} for tier {tier!r} does not apply to a {spec.type}")
    if spec.sensitive and spec.mask("public") == "none":
        raise error("a sensitive field cannot be shown unmasked to the public tier")


_RECORD_KEYS = (
    "code",
    "category",
    "title",
    "title_zh",
    "disclosure",
    "negative",
    "retention",
    "requires_notice",
    "mask",
    "field",
)
_ENDING_KINDS: frozenset[RetentionKind] = frozenset({"after_end", "display_window", "until_end"})


def _parse_record_type(
    raw: object, *, source: str, index: int, rules: Mapping[str, RetentionRule]
) -> RecordType:
    code_guess = raw.get("code") if isinstance(raw, dict) else None
    label = f"{code_guess!r}" if isinstance(code_guess, str) else f"#{index + 1}"
    error = _error_at(source, f"record_type {label}")
    t = StrictTable(raw, allowed=_RECORD_KEYS, error=error)
    code = t.text("code")
    category = cast(Category, _choice(t.text("category"), tuple(CATEGORIES), "category", error))
    shape = _CODE.fullmatch(code)
    if shape is None:
        raise error("a code is '<category>.<snake_name>', e.g. 'B.loan'")
    if shape.group(1) != category:
        raise error(f"code prefix {shape.group(1)!r} does not match category {category!r}")
    title, title_zh = t.text("title"), t.text("title_zh")
    banned = prohibited_concept(shape.group(2), title, title_zh)
    if banned is not None:
        raise error(f"collecting {banned} is prohibited ({PROHIBITED_RULE})")
    disclosure = cast(Disclosure, _choice(t.text("disclosure"), DISCLOSURES, "disclosure", error))
    rule_name = t.text("retention")
    rule = rules.get(rule_name)
    if rule is None:
        raise error(f"retention {rule_name!r} names no [retention.{rule_name}] rule")
    negative = t.flag("negative", default=False)
    requires_notice = t.flag("requires_notice", default=False)
    if negative and rule.kind not in _ENDING_KINDS:
        raise error(
            "a negative record type needs a retention rule that ends "
            "(after_end, display_window or until_end)"
        )
    if negative and disclosure != "public" and not requires_notice:
        raise error("negative information not public by law needs requires_notice = true")
    if requires_notice and not negative:
        raise error("requires_notice applies to negative record types only")
    record_masks = _masks(t.raw("mask"), base=DEFAULT_MASKS, error=error)
    fields: list[FieldSpec] = []
    for i, raw_field in enumerate(t.array_of_tables("field")):
        spec = _parse_field(raw_field, source=source, code=code, index=i, record_masks=record_masks)
        if any(f.name == spec.name for f in fields):
            raise _error_at(source, f"record_type {code!r}", f"field {spec.name!r}")(
                "duplicate field name"
            )
        fields.append(spec)
    if not fields:
        raise error("a record type declares at least one [[record_type.field]]")
    return RecordType(
        code=code,
        category=category,
        title=title,
        title_zh=title_zh,
        disclosure=disclosure,
        negative=negative,
        retention=rule,
        requires_notice=requires_notice,
        fields=tuple(fields),
    )


def _parse_rules(raw: object, source: str) -> dict[str, RetentionRule]:
    if not isinstance(raw, dict) or not raw:
        raise _error_at(source)("at least one [retention.<name>] rule is required")
    rules: dict[str, RetentionRule] = {}
    for name, body in raw.items():
        error = _error_at(source, f"retention {name!r}")
        if not _NAME.fullmatch(name):
            raise error("a retention rule name is snake_case")
        t = StrictTable(
            body,
            allowed=("kind", "years", "min_months", "max_months", "destroy_years_after_end"),
            error=error,
        )
        kind = cast(RetentionKind, _choice(t.text("kind"), RETENTION_KINDS, "kind", error))
        try:
            rules[name] = RetentionRule(
                name=name,
                kind=kind,
                years=t.optional_integer("years"),
                min_months=t.optional_integer("min_months"),
                max_months=t.optional_integer("max_months"),
                destroy_years_after_end=t.optional_integer("destroy_years_after_end"),
            )
        except ValueError as exc:
            raise error(str(exc)) from None
    return rules


def parse_catalog(text: str, *, source: str) -> Catalog:
    """A validated catalog from TOML text; `source` is the name errors cite."""
    error = _error_at(source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})") from None
    top = StrictTable(
        doc, allowed=("schema", "title", "title_zh", "retention", "record_type"), error=error
    )
    schema = top.integer("schema")
    if schema != 1:
        raise error("only catalog schema 1 is understood")
    title, title_zh = top.text("title"), top.text("title_zh")
    rules = _parse_rules(top.raw("retention"), source)
    types: dict[str, RecordType] = {}
    for i, raw in enumerate(top.array_of_tables("record_type")):
        rt = _parse_record_type(raw, source=source, index=i, rules=rules)
        if rt.code in types:
            raise _error_at(source, f"record_type {rt.code!r}")("duplicate record type code")
        types[rt.code] = rt
    if not types:
        raise error("the catalog declares no [[record_type]]")
    version = catalog_version(schema, title, title_zh, rules, types)
    return Catalog(
        version=version,
        schema=schema,
        title=title,
        title_zh=title_zh,
        source=source,
        record_types=MappingProxyType(types),
        retention_rules=MappingProxyType(rules),
    )


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalog file (default: the packaged policies/data/catalog.toml)."""
    if path is None:
        resource = resources.files("policies").joinpath("data", _DEFAULT_CATALOG)
        return parse_catalog(resource.read_text(encoding="utf-8"), source=str(resource))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return parse_catalog(text, source=str(path))


@functools.cache
def default_catalog() -> Catalog:
    """The packaged catalog, loaded once per process."""
    return load_catalog()
