"""The access policy as reviewed data: actions, rules, purposes, fees, limits and tier masks.

Guarantees:
- `parse_policy` returns a `PolicyData` only if the whole file is valid; otherwise it raises one
  `PolicyError` naming the file and the table (action, rule, purpose…) at fault. Unknown keys,
  actions outside `policies.actions.Action`, strengths outside `Strength`, tiers, mask kinds,
  categories, caller kinds, relations, conditions, fees or limits are all refused.
- An action the data does not list is not in `PolicyData.actions`; the engine denies it to
  everybody. A rule pattern must name a known action or a known tier (`<tier>:*`).
- `PolicyData.version` is `policies.policy_version.policy_version` of the parsed data: comments,
  whitespace and the order of tables do not change it; any change of meaning does.
- The model (`policies.policy_model`) is immutable and re-exported here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast, get_args

from policies.actions import Action
from policies.catalog_model import (
    CATEGORIES,
    DISCLOSURES,
    MASK_KINDS,
    TIERS,
    Disclosure,
    MaskKind,
    Tier,
)
from policies.decision import Fee, Strength
from policies.policy_model import (
    CALLER_KINDS,
    CONDITIONS,
    IDENTITY_FIELDS,
    LIMIT_KEYS,
    RELATIONS,
    ActionRelation,
    ActionSpec,
    Condition,
    Effect,
    Limits,
    PolicyData,
    Purpose,
    Rule,
    TierSpec,
)
from policies.policy_version import policy_version
from policies.toml_tables import ErrorFactory, StrictTable

__all__ = [
    "ActionSpec",
    "Limits",
    "PolicyData",
    "PolicyError",
    "Purpose",
    "Rule",
    "TierSpec",
    "load_policy",
    "parse_policy",
    "policy_version",
]

_ID = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_SNAKE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TIER_NAMES = frozenset(a.tier for a in Action)
_DEFAULT_POLICY = "policy.toml"


class PolicyError(ValueError):
    """The policy file is invalid; the message names the file and the table at fault."""


def _error_at(source: str, *where: str) -> ErrorFactory:
    prefix = ": ".join((source, " ".join(where))) if where else source
    return lambda problem: PolicyError(f"{prefix}: {problem}")


def _choice(value: str, allowed: tuple[str, ...], what: str, error: ErrorFactory) -> str:
    if value not in allowed:
        raise error(f"unknown {what} {value!r} (expected one of: {', '.join(allowed)})")
    return value


def _choices(values: tuple[str, ...], allowed: tuple[str, ...], what: str, e: ErrorFactory) -> None:
    for v in values:
        _choice(v, allowed, what, e)
    if len(set(values)) != len(values):
        raise e(f"duplicate {what}")


def _parse_limits(raw: object, source: str) -> Limits:
    error = _error_at(source, "[limits]")
    t = StrictTable(raw, allowed=LIMIT_KEYS, error=error)
    values = {k: t.integer(k) for k in LIMIT_KEYS}
    for key, value in values.items():
        if value < 1:
            raise error(f"{key!r} must be a positive integer")
    return Limits(**values)


def _parse_fees(raw: object, source: str) -> dict[str, Fee]:
    table = StrictTable(raw or {}, allowed=_tables(raw), error=_error_at(source, "[fees]"))
    fees: dict[str, Fee] = {}
    for name in sorted(_tables(raw)):
        error = _error_at(source, f"[fees.{name}]")
        if not _SNAKE.fullmatch(name):
            raise error("a fee name is snake_case")
        t = StrictTable(table.raw(name), allowed=("amount_fen", "free_per_year"), error=error)
        amount, free = t.integer("amount_fen"), t.optional_integer("free_per_year")
        if amount < 0 or (free is not None and free < 0):
            raise error("amounts and free uses are integers >= 0")
        fees[name] = Fee(amount_fen=amount, free_per_year=free)
    return fees


def _tables(raw: object) -> tuple[str, ...]:
    return tuple(raw) if isinstance(raw, dict) else ()


def _parse_tiers(raw: object, source: str) -> dict[Tier, TierSpec]:
    top = StrictTable(raw, allowed=TIERS, error=_error_at(source, "[tiers]"))
    tiers: dict[Tier, TierSpec] = {}
    for tier in TIERS:
        error = _error_at(source, f"[tiers.{tier}]")
        if top.raw(tier) is None:
            raise error("missing (every mask tier needs its table)")
        t = StrictTable(top.raw(tier), allowed=("disclosures", "identity"), error=error)
        disclosures = t.texts("disclosures")
        _choices(disclosures, DISCLOSURES, "disclosure class", error)
        ident = StrictTable(t.raw("identity"), allowed=IDENTITY_FIELDS, error=error)
        identity = {
            name: cast(MaskKind, _choice(ident.text(name), MASK_KINDS, "mask kind", error))
            for name in IDENTITY_FIELDS
        }
        tiers[tier] = TierSpec(
            frozenset(cast(tuple[Disclosure, ...], disclosures)), MappingProxyType(identity)
        )
    return tiers


_ACTION_KEYS = ("strength", "relation", "tier", "releases", "fee", "daily_limit")


def _parse_actions(
    raw: object, source: str, fees: Mapping[str, Fee], limits: Limits
) -> dict[Action, ActionSpec]:
    names = _tables(raw)
    StrictTable(raw, allowed=names, error=_error_at(source, "[actions]"))
    assert isinstance(raw, dict)
    known = tuple(a.value for a in Action)
    actions: dict[Action, ActionSpec] = {}
    for name in names:
        error = _error_at(source, f"[actions.{name!r}]")
        action = Action(_choice(name, known, "action", error))
        t = StrictTable(raw[name], allowed=_ACTION_KEYS, error=error)
        strength = Strength(_choice(t.text("strength"), tuple(Strength), "strength", error))
        relation = _choice(
            t.optional_text("relation") or "any", get_args(ActionRelation), "relation", error
        )
        tier = t.optional_text("tier")
        if tier is not None:
            _choice(tier, TIERS, "tier", error)
        releases = t.flag("releases", default=False)
        if releases and tier is None:
            raise error("an action that releases records names its mask tier")
        fee_name = t.optional_text("fee")
        if fee_name is not None:
            _choice(fee_name, tuple(sorted(fees)), "fee", error)
        limit_name = t.optional_text("daily_limit")
        if limit_name is not None:
            _choice(limit_name, LIMIT_KEYS, "limit", error)
        actions[action] = ActionSpec(
            action=action,
            strength=strength,
            relation=cast(ActionRelation, relation),
            tier=cast(Tier | None, tier),
            releases=releases,
            fee=None if fee_name is None else fees[fee_name],
            daily_limit=None if limit_name is None else getattr(limits, limit_name),
        )
    return actions


_RULE_KEYS: tuple[str, ...] = ("id", "effect", "actions", "callers", "roles", "scopes")
_RULE_KEYS += ("relations", "conditions", "reason")


def _pattern_ok(pattern: str) -> bool:
    if pattern.endswith(":*"):
        return pattern[:-2] in _TIER_NAMES
    return pattern in {a.value for a in Action}


def _optional_set(t: StrictTable, key: str) -> frozenset[str] | None:
    return None if t.raw(key) is None else frozenset(t.texts(key))


def _parse_rule(raw: object, source: str, index: int) -> Rule:
    guess = raw.get("id") if isinstance(raw, dict) else None
    error = _error_at(source, f"rule {guess!r}" if isinstance(guess, str) else f"rule #{index + 1}")
    t = StrictTable(raw, allowed=_RULE_KEYS, error=error)
    rule_id = t.text("id")
    if not _ID.fullmatch(rule_id):
        raise error("a rule id is kebab-case: lower-case letters, digits and hyphens")
    effect = _choice(t.text("effect"), get_args(Effect), "effect", error)
    actions = t.texts("actions")
    if not actions:
        raise error("a rule names at least one action")
    for pattern in actions:
        if not _pattern_ok(pattern):
            raise error(f"unknown action or tier pattern {pattern!r}")
    _choices(t.texts("callers"), CALLER_KINDS, "caller kind", error)
    _choices(t.texts("relations"), RELATIONS, "relation", error)
    conditions = t.texts("conditions")
    _choices(conditions, CONDITIONS, "condition", error)
    reason = t.text("reason")
    if not _SNAKE.fullmatch(reason):
        raise error("a reason is snake_case")
    if effect == "deny" and conditions:
        raise error("conditions apply to allow rules only")
    return Rule(
        id=rule_id,
        effect=cast(Effect, effect),
        actions=actions,
        reason=reason,
        callers=_optional_set(t, "callers"),
        roles=_optional_set(t, "roles"),
        scopes=frozenset(t.texts("scopes")),
        relations=_optional_set(t, "relations"),
        conditions=cast(tuple[Condition, ...], conditions),
    )


def _parse_purpose(raw: object, source: str, index: int) -> Purpose:
    guess = raw.get("code") if isinstance(raw, dict) else None
    label = f"purpose {guess!r}" if isinstance(guess, str) else f"purpose #{index + 1}"
    error = _error_at(source, label)
    t = StrictTable(
        raw, allowed=("code", "title", "title_zh", "categories", "fee_fen"), error=error
    )
    code = t.text("code")
    if not _SNAKE.fullmatch(code):
        raise error("a purpose code is snake_case")
    categories = t.texts("categories")
    if not categories:
        raise error("a purpose allows at least one category")
    _choices(categories, tuple(CATEGORIES), "category", error)
    fee = t.optional_integer("fee_fen")
    if fee is not None and fee < 0:
        raise error("'fee_fen' is an integer >= 0")
    return Purpose(code, t.text("title"), t.text("title_zh"), frozenset(categories), fee)


_TOP_KEYS = ("schema", "limits", "fees", "tiers", "actions", "rule", "purpose")


def parse_policy(text: str, *, source: str) -> PolicyData:
    """Validated policy data from TOML text; `source` is the name errors cite."""
    error = _error_at(source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})") from None
    top = StrictTable(doc, allowed=_TOP_KEYS, error=error)
    if top.integer("schema") != 1:
        raise error("only policy schema 1 is understood")
    limits = _parse_limits(top.raw("limits"), source)
    fees = _parse_fees(top.raw("fees"), source)
    tiers = _parse_tiers(top.raw("tiers"), source)
    actions = _parse_actions(top.raw("actions") or {}, source, fees, limits)
    rules: list[Rule] = []
    for i, raw in enumerate(top.array_of_tables("rule")):
        rule = _parse_rule(raw, source, i)
        if any(r.id == rule.id for r in rules):
            raise _error_at(source, f"rule {rule.id!r}")("duplicate rule id")
        rules.append(rule)
    purposes: dict[str, Purpose] = {}
    for i, raw in enumerate(top.array_of_tables("purpose")):
        purpose = _parse_purpose(raw, source, i)
        if purpose.code in purposes:
            raise _error_at(source, f"purpose {purpose.code!r}")("duplicate purpose code")
        purposes[purpose.code] = purpose
    if not purposes:
        raise error("the policy declares no [[purpose]]")
    data = PolicyData(
        version="",
        source=source,
        limits=limits,
        fees=MappingProxyType(fees),
        tiers=MappingProxyType(tiers),
        actions=MappingProxyType(actions),
        rules=tuple(rules),
        purposes=MappingProxyType(purposes),
    )
    return PolicyData(**{**_fields(data), "version": policy_version(data)})


def _fields(data: PolicyData) -> dict[str, Any]:
    return {name: getattr(data, name) for name in PolicyData.__dataclass_fields__}


def load_policy(path: Path | None = None) -> PolicyData:
    """Load and validate a policy file (default: the packaged policies/data/policy.toml)."""
    if path is None:
        resource = resources.files("policies").joinpath("data", _DEFAULT_POLICY)
        return parse_policy(resource.read_text(encoding="utf-8"), source=str(resource))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return parse_policy(text, source=str(path))
