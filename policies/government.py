"""Government and administrative queriers as reviewed data: their purposes, the record
categories each may see, the regulations a legal basis may cite, and the legal basis itself.

Guarantees:
- `parse_government` returns a `GovernmentData` only if the whole file is valid; otherwise it
  raises one `GovernmentError` naming the file and the table at fault (unknown keys, a
  category outside the catalog's, a purpose citing an undeclared regulation, duplicates…);
- `GovernmentData.version` is the SHA-256 of the canonical JSON of the parsed data: comments,
  whitespace and order do not change it, any change of meaning does (the policy engine folds
  it into the policy version every decision names);
- `parse_legal_basis` accepts exactly `{"regulation": <a declared code>, "reference": <a case
  or document number>}`: the reference is 1..`reference_max_length` characters of letters,
  digits, spaces and the punctuation document numbers use (〔〕[]()/-.#号…), holds a digit, and
  neither starts nor ends with a space; anything else is refused with a sentence that never
  echoes the value. `LegalBasis.reference_text` (`<regulation>:<reference>`) is what the query
  log keeps;
- nothing here imports Flask or SQLAlchemy; every object is immutable.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from policies.catalog_model import CATEGORIES
from policies.toml_tables import ErrorFactory, StrictTable

__all__ = [
    "GovernmentData",
    "GovernmentError",
    "GovernmentPurpose",
    "LegalBasis",
    "Regulation",
    "load_government",
    "parse_government",
    "parse_legal_basis",
]

_SNAKE = re.compile(r"[a-z][a-z0-9_]{0,47}")
_DEFAULT = "government.toml"
#: the longest `<regulation>:<reference>` the log keeps (query_log.legal_basis)
REFERENCE_TEXT_MAX = 160
#: punctuation a case or document number may hold besides letters, digits and spaces
_REFERENCE_PUNCTUATION = frozenset("-_/.()（）〔〕[]【】〈〉《》#·,，:：")


class GovernmentError(ValueError):
    """The government data file is invalid; the message names the file and the table."""


@dataclass(frozen=True, slots=True)
class Regulation:
    code: str
    title: str
    title_zh: str


@dataclass(frozen=True, slots=True)
class GovernmentPurpose:
    """One administrative purpose: what it may see and which regulations it may cite."""

    code: str
    title: str
    title_zh: str
    categories: frozenset[str]
    regulations: frozenset[str]


@dataclass(frozen=True, slots=True)
class GovernmentData:
    version: str
    source: str
    reference_max_length: int
    regulations: Mapping[str, Regulation]
    purposes: Mapping[str, GovernmentPurpose]


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """A well-formed legal basis reference (its regulation declared, not yet checked against
    the purpose: that is the policy engine's)."""

    regulation: str
    reference: str

    @property
    def reference_text(self) -> str:
        return f"{self.regulation}:{self.reference}"


def parse_legal_basis(raw: object, data: GovernmentData) -> LegalBasis | str:
    """The legal basis `raw` cites, or a sentence saying what is wrong with it."""
    shape = 'legal_basis must be {"regulation": "<code>", "reference": "<document number>"}.'
    if not isinstance(raw, dict) or set(raw) != {"regulation", "reference"}:
        return shape
    regulation, reference = raw["regulation"], raw["reference"]
    if not isinstance(regulation, str) or not isinstance(reference, str):
        return shape
    if regulation not in data.regulations:
        return "legal_basis.regulation is not one of the declared regulations."
    limit = data.reference_max_length
    if not 1 <= len(reference) <= limit:
        return f"legal_basis.reference must have 1 to {limit} characters."
    if reference != reference.strip() or not _reference_characters_ok(reference):
        return (
            "legal_basis.reference may hold letters, digits, inner spaces and the punctuation "
            "of document numbers (〔〕[]()/-.#) only."
        )
    if not any(ch.isdigit() for ch in reference):
        return "legal_basis.reference must name a case or document number."
    return LegalBasis(regulation, reference)


def _reference_characters_ok(reference: str) -> bool:
    return all(ch.isalnum() or ch == " " or ch in _REFERENCE_PUNCTUATION for ch in reference)


# --- reading the data ---------------------------------------------------------------------


def _error_at(source: str, *where: str) -> ErrorFactory:
    prefix = ": ".join((source, " ".join(where))) if where else source
    return lambda problem: GovernmentError(f"{prefix}: {problem}")


def _parse_regulations(raw: object, source: str) -> dict[str, Regulation]:
    names = tuple(raw) if isinstance(raw, dict) else ()
    table = StrictTable(raw or {}, allowed=names, error=_error_at(source, "[regulations]"))
    regulations: dict[str, Regulation] = {}
    for code in sorted(names):
        error = _error_at(source, f"[regulations.{code}]")
        if not _SNAKE.fullmatch(code):
            raise error("a regulation code is snake_case, at most 48 characters")
        t = StrictTable(table.raw(code), allowed=("title", "title_zh"), error=error)
        regulations[code] = Regulation(code, t.text("title"), t.text("title_zh"))
    if not regulations:
        raise _error_at(source)("no [regulations.<code>] is declared")
    return regulations


def _parse_purpose(
    raw: object, source: str, index: int, regulations: Mapping[str, Regulation]
) -> GovernmentPurpose:
    guess = raw.get("code") if isinstance(raw, dict) else None
    label = f"purpose {guess!r}" if isinstance(guess, str) else f"purpose #{index + 1}"
    error = _error_at(source, label)
    allowed = ("code", "title", "title_zh", "categories", "regulations")
    t = StrictTable(raw, allowed=allowed, error=error)
    code = t.text("code")
    if not _SNAKE.fullmatch(code):
        raise error("a purpose code is snake_case, at most 48 characters")
    categories = t.texts("categories")
    if not categories:
        raise error("a purpose allows at least one category")
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise error(f"unknown category {unknown[0]!r}")
    cited = t.texts("regulations")
    if not cited:
        raise error("a purpose names at least one regulation a legal basis may cite")
    undeclared = sorted(set(cited) - set(regulations))
    if undeclared:
        raise error(f"regulation {undeclared[0]!r} is not declared in [regulations]")
    return GovernmentPurpose(
        code, t.text("title"), t.text("title_zh"), frozenset(categories), frozenset(cited)
    )


def parse_government(text: str, *, source: str) -> GovernmentData:
    """Validated government data from TOML text; `source` is the name errors cite."""
    error = _error_at(source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})") from None
    top = StrictTable(doc, allowed=("schema", "legal_basis", "regulations", "purpose"), error=error)
    if top.integer("schema") != 1:
        raise error("only schema 1 is understood")
    basis = StrictTable(
        top.raw("legal_basis"),
        allowed=("reference_max_length",),
        error=_error_at(source, "[legal_basis]"),
    )
    longest = basis.integer("reference_max_length")
    regulations = _parse_regulations(top.raw("regulations"), source)
    widest = max(len(code) for code in regulations)
    if not 1 <= longest <= REFERENCE_TEXT_MAX - widest - 1:
        raise _error_at(source, "[legal_basis]")(
            f"reference_max_length must be 1..{REFERENCE_TEXT_MAX - widest - 1} (the log keeps "
            f"<regulation>:<reference> in {REFERENCE_TEXT_MAX} characters)"
        )
    purposes: dict[str, GovernmentPurpose] = {}
    for i, raw in enumerate(top.array_of_tables("purpose")):
        purpose = _parse_purpose(raw, source, i, regulations)
        if purpose.code in purposes:
            raise _error_at(source, f"purpose {purpose.code!r}")("duplicate purpose code")
        purposes[purpose.code] = purpose
    if not purposes:
        raise error("no [[purpose]] is declared")
    return GovernmentData(
        version=_version(longest, regulations, purposes),
        source=source,
        reference_max_length=longest,
        regulations=MappingProxyType(regulations),
        purposes=MappingProxyType(purposes),
    )


def _version(
    longest: int,
    regulations: Mapping[str, Regulation],
    purposes: Mapping[str, GovernmentPurpose],
) -> str:
    doc = {
        "schema": 1,
        "reference_max_length": longest,
        "regulations": {r.code: [r.title, r.title_zh] for r in regulations.values()},
        "purposes": {
            p.code: [p.title, p.title_zh, sorted(p.categories), sorted(p.regulations)]
            for p in purposes.values()
        },
    }
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_government(path: Path | None = None) -> GovernmentData:
    """Load and validate the government data (default: policies/data/government.toml)."""
    if path is None:
        resource = resources.files("policies").joinpath("data", _DEFAULT)
        return parse_government(resource.read_text(encoding="utf-8"), source=str(resource))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GovernmentError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return parse_government(text, source=str(path))
