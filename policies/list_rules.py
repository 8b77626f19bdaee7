"""The red and black list rules as reviewed data (policies/data/lists.toml), the decision of
who belongs on which list, and the 双公示 confidentiality check of what a listing publishes.

Guarantees:
- `load_list_rules` returns rules only if the file is valid against the catalog: every record
  type exists, every published field exists in its type, every good-record field exists and
  is not sensitive (so deciding never needs a sealed value's sensitive part), lists are exactly
  `black` and `red`; else one `ListRulesError` naming the file and the entry;
- `listed_on` decides from plain facts (record type, dates, status, negative flag, and the
  non-sensitive fields the rules name) and the subject's counted grade, never from anything
  else: black while a current record of a black rule's type is displayed, or while the counted
  grade is one of the black list's `grades` (rule `black-grade`); red when no negative record
  is displayed or occurred in `clean_years` and some good record is displayed, or when the
  counted grade is one of the red list's `grades` (rule `red-grade`);
- `confidentiality_check` passes a publication only if every published field is declared, its
  record type is of the public disclosure class and the field's public-tier mask is not
  `redact`: anything the public tier would not see is never published.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from types import MappingProxyType
from typing import Literal

from policies.catalog_model import Catalog
from policies.retention import add_years
from policies.toml_tables import StrictTable

ListCode = Literal["black", "red"]
LISTS: tuple[ListCode, ...] = ("black", "red")


class ListRulesError(ValueError):
    """The list rules file is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class BlackRule:
    id: str
    record_type: str
    published_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoodRecord:
    record_type: str
    field: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class ListRules:
    removal_working_days: int
    titles: Mapping[ListCode, tuple[str, str]]  # (title, title_zh)
    black: tuple[BlackRule, ...]
    clean_years: int
    good: tuple[GoodRecord, ...]
    grades: Mapping[ListCode, frozenset[str]]  # counted grades that list a subject

    @property
    def listing_grades(self) -> frozenset[str]:
        """Every counted grade some list takes as a reason."""
        return frozenset().union(*self.grades.values())

    def black_rule(self, rule_id: str) -> BlackRule | None:
        return next((rule for rule in self.black if rule.id == rule_id), None)

    @property
    def good_types(self) -> frozenset[str]:
        return frozenset(good.record_type for good in self.good)


@dataclass(frozen=True, slots=True)
class Fact:
    """What deciding a listing may know of one record (plain columns, non-sensitive fields)."""

    record_id: str
    record_type: str
    negative: bool
    occurred_on: date
    display_until: date | None
    plain: Mapping[str, object]  # the non-sensitive fields the list rules name

    def displayed(self, on: date) -> bool:
        return self.occurred_on <= on and (self.display_until is None or on <= self.display_until)


@dataclass(frozen=True, slots=True)
class Listing:
    list: ListCode
    rule_id: str
    basis: tuple[str, ...]  # record ids


def listed_on(
    rules: ListRules, facts: Iterable[Fact], on: date, grade: str | None = None
) -> list[Listing]:
    """The listings a subject with these current records and this counted grade belongs to
    on `on` (one per list: a record rule's listing names its records, else the grade's)."""
    facts = list(facts)
    listings: list[Listing] = []
    for rule in rules.black:
        basis = tuple(
            sorted(
                f.record_id for f in facts if f.record_type == rule.record_type and f.displayed(on)
            )
        )
        if basis:
            listings.append(Listing("black", rule.id, basis))
    since = add_years(on, -rules.clean_years)
    dirty = any(f.negative and (f.displayed(on) or f.occurred_on >= since) for f in facts)
    if not dirty:
        good = tuple(
            sorted(
                f.record_id
                for f in facts
                if f.displayed(on)
                and any(
                    g.record_type == f.record_type and f.plain.get(g.field) in g.values
                    for g in rules.good
                )
            )
        )
        if good:
            listings.append(Listing("red", "red-clean-record", good))
    listed = {listing.list for listing in listings}
    for code in LISTS:
        if code not in listed and grade is not None and grade in rules.grades.get(code, ()):
            listings.append(Listing(code, f"{code}-grade", ()))
    return listings


@dataclass(frozen=True, slots=True)
class FieldCheck:
    record_type: str
    field: str
    public_mask: str | None  # None: the field is not declared
    passed: bool
    reason: str


def confidentiality_check(
    rules: ListRules, catalog: Catalog, rule_id: str
) -> tuple[bool, list[FieldCheck]]:
    """Whether the listing of `rule_id` may be published, and the check of each field."""
    rule = rules.black_rule(rule_id)
    if rule is None:  # a red listing publishes the list and the masked identity only
        return True, []
    record_type = catalog.get(rule.record_type)
    checks: list[FieldCheck] = []
    for name in rule.published_fields:
        if record_type is None or not record_type.has_field(name):
            checks.append(FieldCheck(rule.record_type, name, None, False, "not_declared"))
            continue
        mask = record_type.field(name).mask("public")
        if record_type.disclosure != "public":
            checks.append(FieldCheck(rule.record_type, name, mask, False, "not_public_class"))
        elif mask == "redact":
            checks.append(FieldCheck(rule.record_type, name, mask, False, "public_mask_redacts"))
        else:
            checks.append(FieldCheck(rule.record_type, name, mask, True, "public"))
    return all(check.passed for check in checks), checks


def parse_list_rules(text: str, *, source: str, catalog: Catalog) -> ListRules:
    def fail(where: str, problem: str) -> ListRulesError:
        return ListRulesError(f"{source}: {where}: {problem}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ListRulesError(f"{source}: not valid TOML ({exc})") from None
    top = StrictTable(
        doc,
        allowed=("schema", "removal_working_days", "list"),
        error=lambda p: ListRulesError(f"{source}: {p}"),
    )
    if top.integer("schema") != 1:
        raise ListRulesError(f"{source}: only list schema 1 is understood")
    days = top.integer("removal_working_days")
    if not 1 <= days <= 30:
        raise fail("removal_working_days", "1 to 30")
    titles: dict[ListCode, tuple[str, str]] = {}
    grades: dict[ListCode, frozenset[str]] = {}
    black: list[BlackRule] = []
    good: list[GoodRecord] = []
    clean_years = 0
    for raw in top.array_of_tables("list"):
        t = StrictTable(
            raw,
            allowed=("code", "title", "title_zh", "rule", "clean_years", "good", "grades"),
            error=lambda p: ListRulesError(f"{source}: list: {p}"),
        )
        code = t.text("code")
        if code not in LISTS or code in titles:
            raise fail(f"list {code!r}", "lists are exactly 'black' and 'red', once each")
        listed: ListCode = "black" if code == "black" else "red"
        titles[listed] = (t.text("title"), t.text("title_zh"))
        grades[listed] = frozenset(t.texts("grades"))
        if not grades[listed] <= set("ABCDE"):
            raise fail(f"list {code!r}", "grades are among A, B, C, D, E")
        if listed == "black":
            for rule_raw in t.array_of_tables("rule"):
                r = StrictTable(
                    rule_raw,
                    allowed=("id", "record_type", "published_fields"),
                    error=lambda p: ListRulesError(f"{source}: black rule: {p}"),
                )
                rule = BlackRule(r.text("id"), r.text("record_type"), r.texts("published_fields"))
                spec = catalog.get(rule.record_type)
                if spec is None:
                    raise fail(f"rule {rule.id!r}", "record_type is not in the catalog")
                for name in rule.published_fields:
                    if not spec.has_field(name):
                        raise fail(f"rule {rule.id!r}", f"field {name!r} is not declared")
                black.append(rule)
        else:
            clean_years = t.integer("clean_years")
            if not 1 <= clean_years <= 10:
                raise fail("list 'red'", "clean_years is 1 to 10")
            for good_raw in t.array_of_tables("good"):
                g = StrictTable(
                    good_raw,
                    allowed=("record_type", "field", "values"),
                    error=lambda p: ListRulesError(f"{source}: good record: {p}"),
                )
                item = GoodRecord(
                    g.text("record_type"), g.text("field"), frozenset(g.texts("values"))
                )
                spec = catalog.get(item.record_type)
                if spec is None or not spec.has_field(item.field):
                    raise fail(f"good {item.record_type!r}", "type or field is not declared")
                if spec.field(item.field).sensitive:
                    raise fail(f"good {item.record_type!r}", "a good-record field is non-sensitive")
                good.append(item)
    if set(titles) != set(LISTS) or not black or not good:
        raise ListRulesError(f"{source}: both lists, a black rule and a good record are required")
    if grades["black"] & grades["red"]:
        raise ListRulesError(f"{source}: a grade lists a subject on one list only")
    return ListRules(
        days,
        MappingProxyType(titles),
        tuple(black),
        clean_years,
        tuple(good),
        MappingProxyType(grades),
    )


_LOADED: dict[str, ListRules] = {}


def default_list_rules(catalog: Catalog) -> ListRules:
    """The packaged rules, checked against `catalog` (loaded once per catalog version)."""
    found = _LOADED.get(catalog.version)
    if found is None:
        resource = resources.files("policies").joinpath("data", "lists.toml")
        found = parse_list_rules(
            resource.read_text(encoding="utf-8"), source=str(resource), catalog=catalog
        )
        _LOADED[catalog.version] = found
    return found
