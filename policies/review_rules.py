"""The query log's review rules as reviewed data (policies/data/review.toml).

Guarantees: `parse_review_rules` returns rules only if every rule has a unique kebab-case id, a
known kind, a severity of `low | medium | high`, both titles, and exactly the figures its kind
needs, each a positive whole number (hours within a day, the business day's start before its
end, actor kinds from the closed list); else one `ReviewRulesError` naming the file, the rule
and the problem (never a value). The version is the SHA-256 of the canonical parsed data, so
comments and order do not change it. Nothing here reads a log: deciding is the sweep's.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

from policies.toml_tables import StrictTable

SEVERITIES = ("low", "medium", "high")
ACTOR_KINDS = ("subject", "staff", "institution", "payment_provider", "anonymous")
#: The figures each kind of rule takes (all positive whole numbers).
KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "denial_burst": ("denials", "minutes"),
        "identity_searches": ("subjects", "hours"),
        "subject_many_institutions": ("institutions", "days"),
        "off_hours": ("start_hour", "end_hour"),
        "consent_last_day": (),
        "volume_above_baseline": ("multiple", "baseline_days", "min_baseline"),
        "consent_rare_purpose": ("share_percent", "history_days", "min_history"),
        "conflict_of_interest": (),
    }
)
_ID = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_COMMON = ("id", "kind", "severity", "title", "title_zh")


class ReviewRulesError(ValueError):
    """The review rules are invalid; the message names the file, the rule and the problem."""


@dataclass(frozen=True, slots=True)
class ReviewRule:
    id: str
    kind: str
    severity: str
    title: str
    title_zh: str
    figures: Mapping[str, int]
    actor_kinds: tuple[str, ...] = ()

    def figure(self, name: str) -> int:
        return self.figures[name]


@dataclass(frozen=True, slots=True)
class ReviewRules:
    rules: tuple[ReviewRule, ...]
    version: str
    #: `[cases] deadline_working_days`: a case is due within this many working days of its
    #: opening (None when the file has no `[cases]` table: then nothing may open a case).
    case_deadline_days: int | None = None

    def of_kind(self, kind: str) -> tuple[ReviewRule, ...]:
        return tuple(rule for rule in self.rules if rule.kind == kind)

    def by_id(self, rule_id: str) -> ReviewRule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def parse_review_rules(text: str, *, source: str) -> ReviewRules:
    def fail(where: str, problem: str) -> ReviewRulesError:
        return ReviewRulesError(f"{source}: {where}: {problem}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail("file", f"not valid TOML ({exc.args[0] if exc.args else 'syntax'})") from None
    top = StrictTable(doc, allowed=("schema", "rule", "cases"), error=lambda p: fail("file", p))
    if top.integer("schema") != 1:
        raise fail("file", "schema must be 1")
    deadline_days: int | None = None
    if "cases" in doc:
        cases = StrictTable(
            doc["cases"], allowed=("deadline_working_days",), error=_at(fail, "[cases]")
        )
        deadline_days = cases.integer("deadline_working_days")
        if not 1 <= deadline_days <= 60:
            raise fail("[cases]", "deadline_working_days must be 1 to 60")
    rules: list[ReviewRule] = []
    for number, raw in enumerate(top.array_of_tables("rule"), start=1):
        where = f"rule {number}"
        kind_name = raw.get("kind") if isinstance(raw, dict) else None
        if not isinstance(kind_name, str) or kind_name not in KINDS:
            raise fail(where, f"kind must be one of {', '.join(KINDS)}")
        figures = KINDS[kind_name]
        extra = ("actor_kinds",) if kind_name == "off_hours" else ()
        table = StrictTable(raw, allowed=(*_COMMON, *figures, *extra), error=_at(fail, where))
        rule_id = table.text("id")
        if not _ID.fullmatch(rule_id) or any(rule.id == rule_id for rule in rules):
            raise fail(where, "id must be kebab-case and unique")
        severity = table.text("severity")
        if severity not in SEVERITIES:
            raise fail(where, f"severity must be one of {', '.join(SEVERITIES)}")
        values = {name: table.integer(name) for name in figures}
        if any(value < 1 for name, value in values.items() if name != "start_hour"):
            raise fail(where, "figures must be positive whole numbers")
        if kind_name == "off_hours" and not 0 <= values["start_hour"] < values["end_hour"] <= 24:
            raise fail(where, "business hours must be 0 <= start_hour < end_hour <= 24")
        actor_kinds = table.texts("actor_kinds") if extra else ()
        if extra and (not actor_kinds or not set(actor_kinds) <= set(ACTOR_KINDS)):
            raise fail(where, f"actor_kinds must name some of {', '.join(ACTOR_KINDS)}")
        rules.append(
            ReviewRule(
                id=rule_id,
                kind=kind_name,
                severity=severity,
                title=table.text("title"),
                title_zh=table.text("title_zh"),
                figures=MappingProxyType(values),
                actor_kinds=actor_kinds,
            )
        )
    canonical = json.dumps(
        sorted(
            [
                {**{k: getattr(r, k) for k in _COMMON}, "figures": dict(r.figures),
                 "actor_kinds": list(r.actor_kinds)}
                for r in rules
            ],
            key=lambda item: str(item["id"]),
        ),
        sort_keys=True,
        ensure_ascii=False,
    )  # fmt: skip
    if deadline_days is not None:
        canonical += f"\ncases.deadline_working_days={deadline_days}"
    return ReviewRules(tuple(rules), hashlib.sha256(canonical.encode()).hexdigest(), deadline_days)


def _at(
    fail: Callable[[str, str], ReviewRulesError], where: str
) -> Callable[[str], ReviewRulesError]:
    return lambda problem: fail(where, problem)


@cache
def load_review_rules() -> ReviewRules:
    """The packaged rules (policies/data/review.toml), parsed once per process."""
    resource = resources.files("policies").joinpath("data", "review.toml")
    return parse_review_rules(resource.read_text(encoding="utf-8"), source=str(resource))
