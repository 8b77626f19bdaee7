"""The intake rules as reviewed data (`policies/data/intake.toml`): the closed vocabularies of
the unified format and every rule a refused row can name.

Guarantees: `load_intake_rules` returns rules only if the whole file is valid, else one
`IntakeRulesError` naming the file and the entry at fault; every rule id the code refers to
(`RULE_IDS`) must be declared, and nothing else may be; the model is immutable.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from policies.toml_tables import ErrorFactory, StrictTable

#: Every rule id intake code names (`policies.unified_format`, `app.services.intake`).
RULE_IDS = frozenset(
    {
        "format.malformed_line",
        "format.truncated_line",
        "format.unknown_op",
        "format.missing",
        "format.bad_value",
        "format.unknown_key",
        "catalog.unknown_type",
        "catalog.undeclared_field",
        "catalog.field",
        "identifier.citizen_id",
        "identifier.credit_code",
        "law.prohibited_collection",
        "law.consent_required",
        "law.prior_notice",
        "retention.dates",
        "intake.provider_mismatch",
        "intake.record_exists",
        "intake.unknown_record",
        "intake.type_changed",
        "intake.duplicate_row",
        "intake.consent_unknown",
        "intake.consent_ref_taken",
        "identity.name_mismatch",
    }
)
_SNAKE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class IntakeRulesError(ValueError):
    """The intake rules file is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    title_zh: str
    basis: str


@dataclass(frozen=True, slots=True)
class IntakeRules:
    provider_kinds: tuple[str, ...]
    notice_channels: tuple[str, ...]
    correction_reasons: tuple[str, ...]
    withdrawal_reasons: tuple[str, ...]
    max_api_batch_bytes: int
    rules: Mapping[str, Rule]

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]


def _at(source: str, rule_id: str) -> ErrorFactory:
    return lambda problem: IntakeRulesError(f"{source}: rule {rule_id!r}: {problem}")


def parse_intake_rules(text: str, *, source: str) -> IntakeRules:
    """Validated intake rules from TOML text; `source` is the name errors cite."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IntakeRulesError(f"{source}: not valid TOML ({exc})") from None
    top = StrictTable(
        doc,
        allowed=(
            "schema",
            "provider_kinds",
            "notice_channels",
            "correction_reasons",
            "withdrawal_reasons",
            "max_api_batch_bytes",
            "rule",
        ),
        error=lambda p: IntakeRulesError(f"{source}: {p}"),
    )
    if top.integer("schema") != 1:
        raise IntakeRulesError(f"{source}: only intake schema 1 is understood")
    vocabularies: dict[str, tuple[str, ...]] = {}
    for key in ("provider_kinds", "notice_channels", "correction_reasons", "withdrawal_reasons"):
        values = top.texts(key)
        if not values or len(set(values)) != len(values):
            raise IntakeRulesError(f"{source}: {key!r} is a non-empty list without duplicates")
        if not all(_SNAKE.fullmatch(v) for v in values):
            raise IntakeRulesError(f"{source}: {key!r} holds snake_case codes only")
        vocabularies[key] = values
    limit = top.integer("max_api_batch_bytes")
    if not 1024 <= limit <= 256 * 1024 * 1024:
        raise IntakeRulesError(f"{source}: 'max_api_batch_bytes' is 1 KiB to 256 MiB")
    raw_rules = top.raw("rule")
    if not isinstance(raw_rules, dict):
        raise IntakeRulesError(f'{source}: [rule."<id>"] tables are required')
    rules: dict[str, Rule] = {}
    for rule_id, body in raw_rules.items():
        t = StrictTable(body, allowed=("title", "title_zh", "basis"), error=_at(source, rule_id))
        rules[rule_id] = Rule(rule_id, t.text("title"), t.text("title_zh"), t.text("basis"))
    missing, unknown = sorted(RULE_IDS - set(rules)), sorted(set(rules) - RULE_IDS)
    if missing:
        raise IntakeRulesError(f"{source}: rule {missing[0]!r} is not declared")
    if unknown:
        raise IntakeRulesError(f"{source}: rule {unknown[0]!r} is not one the code names")
    return IntakeRules(
        provider_kinds=vocabularies["provider_kinds"],
        notice_channels=vocabularies["notice_channels"],
        correction_reasons=vocabularies["correction_reasons"],
        withdrawal_reasons=vocabularies["withdrawal_reasons"],
        max_api_batch_bytes=limit,
        rules=MappingProxyType(rules),
    )


@functools.cache
def default_intake_rules() -> IntakeRules:
    """The packaged rules, loaded once per process."""
    resource = resources.files("policies").joinpath("data", "intake.toml")
    return parse_intake_rules(resource.read_text(encoding="utf-8"), source=str(resource))
