"""The scorecard (policies/data/scorecard.toml): a subject's records to a score, a grade A–E
and the explanation of both.

Guarantees:
- `parse_scorecard` returns a scorecard only if the file is valid against the catalog: every
  record type exists, a factor's `field` is a non-sensitive enum declared in each of its types
  and its `values` are among the field's values (so grading never needs a sealed value's
  sensitive part), grades are ordered best first with falling `min_score` and the last at 0,
  violation types are negative types; and only if `base` plus every positive factor at its
  maximum is at most 100 and `base` plus every negative factor at its maximum is at least 0,
  so no score is ever clamped. Otherwise one `ScorecardError` naming the file and the entry;
- `grade` is pure and total: the score is exactly `base` plus the points of the explanation's
  factors (`Grading.moved`), each factor lists the records it counted, and a factor depends
  only on the records of its own types: changing one record changes only the factors whose
  types (and field, and age band) match the record before or after the change;
- a grade whose `clean_years` a violation breaks is skipped, and the explanation says which
  records held it back (`Grading.held_back`).
No Flask, no SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from types import MappingProxyType

from policies.catalog_model import Catalog
from policies.list_rules import Fact
from policies.retention import add_years
from policies.toml_tables import StrictTable

GRADES = ("A", "B", "C", "D", "E")


class ScorecardError(ValueError):
    """The scorecard file is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class GradeRule:
    code: str
    title: str
    title_zh: str
    min_score: int
    clean_years: int | None
    second_approval: bool


@dataclass(frozen=True, slots=True)
class Factor:
    id: str
    title: str
    title_zh: str
    record_types: frozenset[str]
    field: str | None
    values: frozenset[str]
    within_years: int | None
    beyond_years: int | None
    points: int
    max_records: int

    def counts(self, fact: Fact, on: date) -> bool:
        """Whether `fact` is one of the records this factor counts on `on`."""
        if fact.record_type not in self.record_types or not fact.displayed(on):
            return False
        return self.matches(fact, _cutoffs((self,), on))

    def matches(self, fact: Fact, cutoffs: Mapping[int, date]) -> bool:
        """`counts` for a displayed record of one of the factor's types, given the day
        `years` before the grading day for each age band (`_cutoffs`)."""
        if self.field is not None and fact.plain.get(self.field) not in self.values:
            return False
        if self.within_years is not None and fact.occurred_on <= cutoffs[self.within_years]:
            return False
        return self.beyond_years is None or fact.occurred_on <= cutoffs[self.beyond_years]


def _cutoffs(factors: Iterable[Factor], on: date) -> dict[int, date]:
    years = {y for f in factors for y in (f.within_years, f.beyond_years) if y is not None}
    return {y: add_years(on, -y) for y in years}


@dataclass(frozen=True, slots=True)
class Moved:
    """One factor that moved a score: by how many points, and the records it counted."""

    factor: str
    title: str
    title_zh: str
    points: int
    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A better grade the score reached but a recent violation ruled out."""

    grade: str
    clean_years: int
    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grading:
    score: int
    grade: str
    base: int
    moved: tuple[Moved, ...]
    held_back: tuple[HeldBack, ...]

    def explanation(self) -> dict[str, object]:
        """The explanation as plain JSON-ready data (what is stored and shown)."""
        return {
            "base": self.base,
            "factors": [
                {
                    "factor": m.factor,
                    "title": m.title,
                    "title_zh": m.title_zh,
                    "points": m.points,
                    "records": list(m.records),
                }
                for m in self.moved
            ],
            "held_back": [
                {"grade": h.grade, "clean_years": h.clean_years, "records": list(h.records)}
                for h in self.held_back
            ],
        }


@dataclass(frozen=True, slots=True)
class Scorecard:
    version: str
    base: int
    grades: tuple[GradeRule, ...]
    factors: tuple[Factor, ...]
    violation_types: frozenset[str]
    #: record type -> the non-sensitive field its factors read (what grading opens)
    field_types: Mapping[str, str] = field(init=False)
    #: every record type grading looks at
    record_types: frozenset[str] = field(init=False)
    #: record type -> the factors that count it, in the card's order
    by_type: Mapping[str, tuple[Factor, ...]] = field(init=False)

    def __post_init__(self) -> None:
        fields: dict[str, str] = {}
        by_type: dict[str, list[Factor]] = {}
        for factor in self.factors:
            for code in factor.record_types:
                by_type.setdefault(code, []).append(factor)
                if factor.field is not None:
                    fields[code] = factor.field
        object.__setattr__(self, "field_types", MappingProxyType(fields))
        object.__setattr__(self, "record_types", frozenset(by_type) | self.violation_types)
        object.__setattr__(
            self, "by_type", MappingProxyType({k: tuple(v) for k, v in by_type.items()})
        )

    def rule(self, code: str) -> GradeRule:
        return next(rule for rule in self.grades if rule.code == code)

    def grade(self, facts: Iterable[Fact], on: date) -> Grading:
        """The score, grade and explanation of a subject with these current records."""
        facts = list(facts)
        cutoffs = _cutoffs(self.factors, on)
        counted: dict[str, list[str]] = {}
        for fact in facts:
            factors = self.by_type.get(fact.record_type)
            if factors is None or not fact.displayed(on):
                continue
            for factor in factors:
                if factor.matches(fact, cutoffs):
                    counted.setdefault(factor.id, []).append(fact.record_id)
        moved: list[Moved] = []
        score = self.base
        for factor in self.factors:
            refs = counted.get(factor.id)
            if refs:
                points = factor.points * min(len(refs), factor.max_records)
                score += points
                moved.append(
                    Moved(factor.id, factor.title, factor.title_zh, points, tuple(sorted(refs)))
                )
        held: list[HeldBack] = []
        for rule in self.grades:
            if score < rule.min_score:
                continue
            if rule.clean_years is not None:
                since = add_years(on, -rule.clean_years)
                recent = sorted(
                    f.record_id
                    for f in facts
                    if f.record_type in self.violation_types and since < f.occurred_on <= on
                )
                if recent:
                    held.append(HeldBack(rule.code, rule.clean_years, tuple(recent)))
                    continue
            return Grading(score, rule.code, self.base, tuple(moved), tuple(held))
        raise AssertionError("the last grade has min_score 0")  # checked at load


def parse_scorecard(text: str, *, source: str, catalog: Catalog) -> Scorecard:
    def fail(problem: str) -> ScorecardError:
        return ScorecardError(f"{source}: {problem}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"not valid TOML ({exc})") from None
    top = StrictTable(doc, allowed=("schema", "base", "violations", "grade", "factor"), error=fail)
    if top.integer("schema") != 1:
        raise fail("only scorecard schema 1 is understood")
    base = top.integer("base")
    if not 0 <= base <= 100:
        raise fail("base is 0 to 100")
    violations = StrictTable(
        top.raw("violations"),
        allowed=("record_types",),
        error=lambda p: fail(f"[violations]: {p}"),
    ).texts("record_types")
    for code in violations:
        spec = catalog.get(code)
        if spec is None or not spec.negative:
            raise fail(f"[violations]: {code!r} is not a negative record type of the catalog")
    grades = tuple(_grade(raw, fail) for raw in top.array_of_tables("grade"))
    if tuple(g.code for g in grades) != GRADES:
        raise fail("grades are A, B, C, D, E in that order, once each")
    scores = [g.min_score for g in grades]
    if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
        raise fail("grades' min_score falls from A to E")
    if scores[-1] != 0 or scores[0] > 100:
        raise fail("the last grade's min_score is 0 and none is above 100")
    factors = tuple(_factor(raw, fail, catalog) for raw in top.array_of_tables("factor"))
    ids = [f.id for f in factors]
    if not factors or len(set(ids)) != len(ids):
        raise fail("factors are required and their ids unique")
    read: dict[str, str] = {}
    for factor in factors:
        reads = factor.field
        if reads is None:
            continue
        for code in factor.record_types:
            if read.setdefault(code, reads) != reads:
                raise fail(f"factors of {code!r} read one field only")
    highest = base + sum(f.points * f.max_records for f in factors if f.points > 0)
    lowest = base + sum(f.points * f.max_records for f in factors if f.points < 0)
    if highest > 100 or lowest < 0:
        raise fail(
            f"base and factors reach {lowest}..{highest}: they must stay within 0..100, so a "
            "score never needs clamping"
        )
    version = hashlib.sha256(
        json.dumps(tomllib.loads(text), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    return Scorecard(version, base, grades, factors, frozenset(violations))


Fail = Callable[[str], ScorecardError]


def _grade(raw: object, fail: Fail) -> GradeRule:
    error = _scoped(fail, "grade")
    t = StrictTable(
        raw,
        allowed=("code", "title", "title_zh", "min_score", "clean_years", "second_approval"),
        error=error,
    )
    clean = t.optional_integer("clean_years")
    if clean is not None and not 1 <= clean <= 10:
        raise error("clean_years is 1 to 10")
    return GradeRule(
        t.text("code"),
        t.text("title"),
        t.text("title_zh"),
        t.integer("min_score"),
        clean,
        t.flag("second_approval", default=False),
    )


def _factor(raw: object, fail: Fail, catalog: Catalog) -> Factor:
    error = _scoped(fail, "factor")
    t = StrictTable(
        raw,
        allowed=(
            "id",
            "title",
            "title_zh",
            "record_types",
            "field",
            "values",
            "within_years",
            "beyond_years",
            "points",
            "max_records",
        ),
        error=error,
    )
    factor_id = t.text("id")
    error = _scoped(fail, f"factor {factor_id!r}")
    types = t.texts("record_types")
    field, values = t.optional_text("field"), frozenset(t.texts("values"))
    if not types:
        raise error("record_types is required")
    if (field is None) != (not values):
        raise error("field and values go together")
    for code in types:
        spec = catalog.get(code)
        if spec is None:
            raise error(f"{code!r} is not in the catalog")
        if field is None:
            continue
        if not spec.has_field(field):
            raise error(f"{code!r} has no field {field!r}")
        declared = spec.field(field)
        if declared.sensitive or declared.type != "enum":
            raise error(f"{code}.{field} is not a non-sensitive enum")
        if not values <= set(declared.values):
            raise error(f"values are not all values of {code}.{field}")
    within, beyond = t.optional_integer("within_years"), t.optional_integer("beyond_years")
    for years in (within, beyond):
        if years is not None and not 1 <= years <= 10:
            raise error("within_years and beyond_years are 1 to 10")
    points, most = t.integer("points"), t.integer("max_records")
    if points == 0 or not 1 <= most <= 10:
        raise error("points is non-zero and max_records 1 to 10")
    return Factor(
        factor_id, t.text("title"), t.text("title_zh"), frozenset(types), field, values,
        within, beyond, points, most,
    )  # fmt: skip


def _scoped(fail: Fail, where: str) -> Fail:
    def error(problem: str) -> ScorecardError:
        return fail(f"{where}: {problem}")

    return error


_LOADED: dict[str, Scorecard] = {}


def default_scorecard(catalog: Catalog) -> Scorecard:
    """The packaged scorecard, checked against `catalog` (loaded once per catalog version)."""
    found = _LOADED.get(catalog.version)
    if found is None:
        resource = resources.files("policies").joinpath("data", "scorecard.toml")
        found = parse_scorecard(
            resource.read_text(encoding="utf-8"), source=str(resource), catalog=catalog
        )
        _LOADED[catalog.version] = found
    return found
