"""What the policy engine decides on and what it answers: callers, targets, decisions, obligations.

These types are the contract between `policies.engine` and the services. They are pure values:
nothing here touches a database, a request or a key. A service builds a `Caller` from the
authenticated principal, a `Target` from what it knows about the resource (without opening any
sealed value), calls `decide`, and must honour every obligation of an allowing decision:
release only the record types and fields listed, apply each mask, hide records outside their
display period, charge the fee, and enforce the counted limits atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from policies.actions import Action
from policies.catalog_model import MaskKind, Tier

CallerKind = Literal["anonymous", "subject", "staff", "institution", "payment_provider"]
Relation = Literal["none", "own", "other"]


class Strength(StrEnum):
    """How strongly a caller authenticated; each action names the strength it needs."""

    NONE = "none"  # no login at all
    SESSION = "session"  # any live session
    SUBJECT_CARD = "subject_card"  # subject: password + smart card (challenge or mTLS)
    STAFF_TOTP = "staff_totp"  # staff: password + TOTP
    STAFF_CARD = "staff_card"  # staff: password + TOTP + smart card (step-up)
    INSTITUTION_TOKEN = "institution_token"  # noqa: S105 OAuth client credentials (private_key_jwt)
    SIGNED_NOTIFICATION = "signed_notification"  # payment provider, HMAC-signed message


class Outcome(StrEnum):
    """The decision's kind, which the web layer maps to a status code."""

    ALLOW = "allow"  # 200
    DENY = "deny"  # 403: the caller may know the resource exists but may not have it
    NOT_FOUND = "not_found"  # 404: the caller may not even know whether it exists
    STEP_UP = "step_up"  # 401/403: authenticate more strongly first
    UNAUTHENTICATED = "unauthenticated"  # 401


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated party, reduced to what policy needs (no ids, no secrets)."""

    kind: CallerKind
    methods: frozenset[str] = frozenset()  # session methods: password, card, totp; oauth; hmac
    roles: frozenset[str] = frozenset()  # staff roles
    scopes: frozenset[str] = frozenset()  # institution token scopes


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """A consent token that has already been verified cryptographically (signature, expiry,
    revocation, remaining uses) by the service; policy checks what it covers."""

    audience_matches: bool  # `aud` is the calling institution
    subject_matches: bool  # `sub` is the subject asked about, signed by that subject's card
    purpose: str  # the token's purpose
    scope: frozenset[str]  # categories the subject consented to (A, B, C, D)


@dataclass(frozen=True, slots=True)
class LegalBasisFacts:
    """A government query's legal basis, already found well-formed by the service, and the
    purposes the asking agency is registered for; policy checks what they cover."""

    regulation: str  # the cited regulation's code (declared in policies/data/government.toml)
    registered_purposes: frozenset[str]  # the agency's registered administrative purposes


@dataclass(frozen=True, slots=True)
class Target:
    """The resource as far as policy may know it without opening anything."""

    relation: Relation = "none"  # the caller's own data, someone else's, or nobody's
    purpose: str | None = None  # the purpose the caller declared
    consent: ConsentFacts | None = None
    legal_basis: LegalBasisFacts | None = None


@dataclass(frozen=True, slots=True)
class Fee:
    """What an allowed action costs: `amount_fen` per use, the first `free_per_year` uses of
    each calendar year free (counted atomically by the service)."""

    amount_fen: int = 0
    free_per_year: int | None = None


@dataclass(frozen=True, slots=True)
class Obligations:
    """What an allowing decision obliges the service to do with the answer."""

    tier: Tier  # whose masks apply (catalog `mask` tiers)
    record_types: frozenset[str] = frozenset()  # the only record types that may be released
    masks: Mapping[tuple[str, str], MaskKind] = field(
        default_factory=lambda: MappingProxyType({})
    )  # (record type, field) -> mask; a field absent here is withheld entirely
    hide_undisplayed: bool = True  # drop records outside their display period on `on`
    fee: Fee = Fee()
    daily_limit: int | None = None  # per-account uses of this action per day
    purpose: str | None = None

    def releases(self, record_type: str) -> bool:
        return record_type in self.record_types

    def mask(self, record_type: str, field_name: str) -> MaskKind | None:
        """The mask for a field, or None when the field must be withheld entirely."""
        return self.masks.get((record_type, field_name))

    @property
    def released_fields(self) -> tuple[str, ...]:
        """`type.field` names released unmasked or masked (for the query log), sorted."""
        return tuple(sorted(f"{code}.{name}" for code, name in self.masks))


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision. `rule_ids` names every rule that matched (allow and deny alike)."""

    action: Action
    outcome: Outcome
    reason: str  # a short snake_case reason, safe to show and to log
    rule_ids: tuple[str, ...] = ()
    obligations: Obligations | None = None
    on: date | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW
