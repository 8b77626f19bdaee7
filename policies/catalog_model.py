"""The catalog's model: record types, their fields and masks, and the catalog that holds them.

Guarantees: every object is immutable (mappings are read-only views, masks are tuples); a
`RecordType` answers `field(name)` in constant time; `Catalog.require` names the code and the
catalog version when a record type is missing. Validation lives in `policies.catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

from policies.retention import RetentionRule

Category = Literal["A", "B", "C", "D"]
Disclosure = Literal["public", "archive", "restricted"]
FieldType = Literal[
    "string",
    "text",
    "date",
    "integer",
    "money_fen",
    "boolean",
    "enum",
    "id_number",
    "credit_code",
    "year_month",
]
Tier = Literal["self", "institution", "archive", "public"]
MaskKind = Literal["none", "redact", "first6_last4", "last4", "year_only", "hash"]

CATEGORIES: Mapping[Category, str] = MappingProxyType(
    {"A": "identity", "B": "financial credit", "C": "social credit", "D": "special records"}
)
DISCLOSURES: tuple[Disclosure, ...] = get_args(Disclosure)
FIELD_TYPES: tuple[FieldType, ...] = get_args(FieldType)
TIERS: tuple[Tier, ...] = get_args(Tier)
MASK_KINDS: tuple[MaskKind, ...] = get_args(MaskKind)

#: Masks a tier gets when neither the field nor its record type declares one.
DEFAULT_MASKS: Mapping[Tier, MaskKind] = MappingProxyType(
    {"self": "none", "institution": "redact", "archive": "redact", "public": "redact"}
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a record type's payload, with its masking per access tier."""

    name: str
    type: FieldType
    title: str
    title_zh: str | None = None
    concept: str | None = None
    sensitive: bool = True
    required: bool = True
    consent_required: bool = False
    values: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    mask_by_tier: tuple[tuple[Tier, MaskKind], ...] = tuple(DEFAULT_MASKS.items())

    @property
    def masks(self) -> Mapping[Tier, MaskKind]:
        return dict(self.mask_by_tier)

    def mask(self, tier: Tier) -> MaskKind:
        return dict(self.mask_by_tier)[tier]


@dataclass(frozen=True, slots=True)
class RecordType:
    """A declared kind of credit record."""

    code: str
    category: Category
    title: str
    title_zh: str
    disclosure: Disclosure
    negative: bool
    retention: RetentionRule
    requires_notice: bool
    fields: tuple[FieldSpec, ...]
    _by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({f.name: f for f in self.fields}))

    def field(self, name: str) -> FieldSpec:
        """The named field; `KeyError` if the record type has none by that name."""
        return self._by_name[name]

    def has_field(self, name: str) -> bool:
        return name in self._by_name


@dataclass(frozen=True, slots=True)
class Catalog:
    """A loaded, validated catalog and the version hash every decision must name."""

    version: str
    schema: int
    title: str
    title_zh: str
    source: str
    record_types: Mapping[str, RecordType]
    retention_rules: Mapping[str, RetentionRule]

    def get(self, code: str) -> RecordType | None:
        return self.record_types.get(code)

    def require(self, code: str) -> RecordType:
        """The record type for `code`; `KeyError` naming the code and catalog version if none."""
        found = self.record_types.get(code)
        if found is None:
            raise KeyError(f"record type {code!r} is not in catalog {self.version[:12]}")
        return found
