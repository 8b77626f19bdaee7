"""The access policy's model: actions, rules, purposes, fees, limits and tier masks.

Guarantees: every object is immutable (mappings are read-only views); `Rule.names` matches an
action exactly or by its tier (`<tier>:*`) and nothing else. Validation lives in
`policies.policy_data`, the version hash in `policies.policy_version`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from policies.actions import Action
from policies.catalog_model import Disclosure, MaskKind, Tier
from policies.decision import CallerKind, Fee, Relation, Strength

Effect = Literal["allow", "deny"]
ActionRelation = Literal["any", "own"]
Condition = Literal["consent", "legal_basis"]

CALLER_KINDS: tuple[CallerKind, ...] = get_args(CallerKind)
RELATIONS: tuple[Relation, ...] = get_args(Relation)
CONDITIONS: tuple[Condition, ...] = get_args(Condition)
IDENTITY_FIELDS = ("name", "id_number")
LIMIT_KEYS = (
    "free_self_reports_per_year",
    "public_list_searches_per_day",
    "archive_download_days",
    "consent_max_days",
    "consent_max_uses",
    "open_orders_per_account",
    "unpaid_order_hours",
    "report_verifications_per_hour",
)


@dataclass(frozen=True, slots=True)
class Purpose:
    """One institutional purpose from the closed list."""

    code: str
    title: str
    title_zh: str
    categories: frozenset[str]
    fee_fen: int | None = None


@dataclass(frozen=True, slots=True)
class TierSpec:
    """What a mask tier may release and how it sees the subject's identity."""

    disclosures: frozenset[Disclosure]
    identity: Mapping[str, MaskKind]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What an action needs and what its allowed answer carries."""

    action: Action
    strength: Strength
    relation: ActionRelation = "any"
    tier: Tier | None = None
    releases: bool = False
    fee: Fee | None = None
    daily_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """An allow or deny rule; `None` in a filter means "any"."""

    id: str
    effect: Effect
    actions: tuple[str, ...]
    reason: str
    callers: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    scopes: frozenset[str] = frozenset()
    relations: frozenset[str] | None = None
    conditions: tuple[Condition, ...] = ()

    def names(self, action: Action) -> bool:
        return any(p == action.value or p == f"{action.tier}:*" for p in self.actions)


@dataclass(frozen=True, slots=True)
class Limits:
    free_self_reports_per_year: int
    public_list_searches_per_day: int
    archive_download_days: int
    consent_max_days: int
    consent_max_uses: int
    open_orders_per_account: int
    unpaid_order_hours: int
    report_verifications_per_hour: int


@dataclass(frozen=True, slots=True)
class PolicyData:
    """The validated policy and the version hash every decision names."""

    version: str
    source: str
    limits: Limits
    fees: Mapping[str, Fee]
    tiers: Mapping[Tier, TierSpec]
    actions: Mapping[Action, ActionSpec]
    rules: tuple[Rule, ...]
    purposes: Mapping[str, Purpose]
