"""The policy engine: every request is a decision over reviewed data (ARCHITECTURE.md §4).

Guarantees (fail closed):
- Deny by default: an action the data does not list, or one no allow rule covers, is denied.
  An explicit deny rule beats any allow. Every decision names every rule that matched, allow
  and deny alike, and a snake_case reason that holds no personal data.
- Order: the strength the action needs is checked first (an anonymous caller is
  `UNAUTHENTICATED`; a caller holding a session whose kind of account could reach that strength
  is asked to `STEP_UP`; any other is denied); then explicit denies; then the relation (an
  action on someone else's resource that needs the caller's own answers `NOT_FOUND`, so the
  caller cannot learn it exists); then the allow rules and their conditions.
- `institution:report:query` (condition `consent`) needs a verified consent naming this
  institution and this subject (else `NOT_FOUND`), a purpose from the closed list equal to the
  consent's purpose (else `DENY`), and releases only the categories both the purpose and the
  consent's scope allow (none in common: `DENY`).
- `government:report:query` (condition `legal_basis`) needs a legal basis (else `DENY`), a
  purpose from the government data's closed list (else `DENY`) that the agency is registered
  for (else `DENY`) and that may cite the basis's regulation (else `DENY`), and releases only
  that purpose's categories; no fee.
- `version` is the policy's version with the government data's folded in: a change to either
  file changes the version every decision and log entry names.
- An allowing decision on a query tier carries `Obligations`: the record types the tier may see,
  the mask of every field of every released type (catalog `FieldSpec.mask(tier)`), the identity
  masks under the pseudo record type `"subject"`, `hide_undisplayed=True` for every tier (the
  law stops showing expired negative information to everybody, the subject included), the fee,
  the daily limit and the purpose. A field absent from the masks is withheld.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from policies.actions import Action
from policies.catalog_model import Catalog, MaskKind, RecordType, Tier
from policies.decision import (
    Caller,
    Decision,
    Fee,
    Obligations,
    Outcome,
    Strength,
    Target,
)
from policies.government import GovernmentData, GovernmentPurpose, load_government
from policies.policy_data import ActionSpec, PolicyData, Purpose, Rule

__all__ = ["SUBJECT_TYPE", "PolicyEngine", "Purpose", "strengths_of"]

#: The pseudo record type under which the subject's identity masks are given.
SUBJECT_TYPE = "subject"
_SESSION_METHODS = frozenset({"password", "card", "totp"})
_PEOPLE = frozenset({"subject", "staff", "institution"})
#: Which kinds of caller could reach a strength by logging in more strongly.
_REACHABLE: Mapping[Strength, frozenset[str]] = MappingProxyType(
    {
        Strength.NONE: frozenset(),
        Strength.SESSION: _PEOPLE,
        Strength.SUBJECT_CARD: frozenset({"subject"}),
        Strength.STAFF_TOTP: frozenset({"staff"}),
        Strength.STAFF_CARD: frozenset({"staff"}),
        Strength.INSTITUTION_TOKEN: frozenset(),
        Strength.SIGNED_NOTIFICATION: frozenset(),
    }
)


def strengths_of(caller: Caller) -> frozenset[Strength]:
    """Every strength the caller's authentication satisfies."""
    have = {Strength.NONE}
    methods = caller.methods
    if caller.kind in _PEOPLE and methods & _SESSION_METHODS:
        have.add(Strength.SESSION)
        if caller.kind == "subject" and {"password", "card"} <= methods:
            have.add(Strength.SUBJECT_CARD)
        if caller.kind == "staff" and {"password", "totp"} <= methods:
            have.add(Strength.STAFF_TOTP)
            if "card" in methods:
                have.add(Strength.STAFF_CARD)
    if caller.kind == "institution" and "oauth" in methods:
        have.add(Strength.INSTITUTION_TOKEN)
    if caller.kind == "payment_provider" and "hmac" in methods:
        have.add(Strength.SIGNED_NOTIFICATION)
    return frozenset(have)


def _applies(rule: Rule, caller: Caller, target: Target) -> bool:
    """Whether a rule that names the action applies to this caller and target."""
    return (
        (rule.callers is None or caller.kind in rule.callers)
        and (rule.roles is None or bool(caller.roles & rule.roles))
        and rule.scopes <= caller.scopes
        and (rule.relations is None or target.relation in rule.relations)
    )


class PolicyEngine:
    """Decides `(caller, action, target)` under one policy and one catalog. Immutable."""

    def __init__(
        self, policy: PolicyData, catalog: Catalog, government: GovernmentData | None = None
    ) -> None:
        self._policy = policy
        self._catalog = catalog
        self._government = government if government is not None else load_government()
        both = f"{policy.version}+{self._government.version}".encode()
        self._version = hashlib.sha256(both).hexdigest()
        self._tier_types = {tier: self._types_for(tier) for tier in policy.tiers}
        # the rules naming each action, in policy order: a decision looks at those only
        self._rules_naming: dict[Action, tuple[Rule, ...]] = {
            action: tuple(rule for rule in policy.rules if rule.names(action)) for action in Action
        }
        # obligations depend only on (action, categories, purpose) under this immutable policy
        # and catalog: computed once per combination (the mask table is ~100 entries)
        self._obligations_made: dict[
            tuple[str, frozenset[str] | None, str | None], Obligations | None
        ] = {}

    # --- the figures other parts enforce ---------------------------------------------------
    @property
    def version(self) -> str:
        return self._version

    @property
    def government(self) -> GovernmentData:
        return self._government

    @property
    def government_purposes(self) -> Mapping[str, GovernmentPurpose]:
        return self._government.purposes

    @property
    def catalog_version(self) -> str:
        return self._catalog.version

    @property
    def purposes(self) -> Mapping[str, Purpose]:
        return self._policy.purposes

    @property
    def consent_max_days(self) -> int:
        return self._policy.limits.consent_max_days

    @property
    def consent_max_uses(self) -> int:
        return self._policy.limits.consent_max_uses

    @property
    def archive_download_days(self) -> int:
        return self._policy.limits.archive_download_days

    @property
    def free_self_reports_per_year(self) -> int:
        return self._policy.limits.free_self_reports_per_year

    @property
    def public_list_searches_per_day(self) -> int:
        return self._policy.limits.public_list_searches_per_day

    @property
    def open_orders_per_account(self) -> int:
        return self._policy.limits.open_orders_per_account

    @property
    def unpaid_order_hours(self) -> int:
        return self._policy.limits.unpaid_order_hours

    @property
    def report_verifications_per_hour(self) -> int:
        return self._policy.limits.report_verifications_per_hour

    @property
    def releasing_actions(self) -> frozenset[str]:
        """The actions whose allowed answers hold credit records (`releases = true`)."""
        return frozenset(a.value for a, spec in self._policy.actions.items() if spec.releases)

    def strength_for(self, action: Action) -> Strength | None:
        """The strength the action needs, or None when the policy does not list it."""
        spec = self._policy.actions.get(action)
        return None if spec is None else spec.strength

    # --- deciding -------------------------------------------------------------------------------
    def decide(
        self, caller: Caller, action: Action, target: Target | None = None, *, on: date
    ) -> Decision:
        """One decision; `ValueError` for an action outside the closed vocabulary."""
        if not isinstance(action, Action):
            raise ValueError("unknown action (outside the closed vocabulary)")
        target = target if target is not None else Target()
        spec = self._policy.actions.get(action)
        if spec is None:
            return Decision(action, Outcome.DENY, "action_not_in_policy", on=on)
        matched = [r for r in self._rules_naming[action] if _applies(r, caller, target)]
        ids = tuple(r.id for r in matched)

        def refuse(outcome: Outcome, reason: str) -> Decision:
            return Decision(action, outcome, reason, ids, on=on)

        have = strengths_of(caller)
        denies = [r for r in matched if r.effect == "deny"]
        if spec.strength not in have:
            if caller.kind == "anonymous":
                return refuse(Outcome.UNAUTHENTICATED, "login_required")
            if Strength.SESSION in have and caller.kind in _REACHABLE[spec.strength]:
                return refuse(Outcome.STEP_UP, "step_up_required")
            return refuse(Outcome.DENY, denies[0].reason if denies else "wrong_kind_of_login")
        if denies:
            return refuse(Outcome.DENY, denies[0].reason)
        if spec.relation == "own" and target.relation != "own":
            return refuse(Outcome.NOT_FOUND, "not_the_callers")
        allows = [r for r in matched if r.effect == "allow"]
        if not allows:
            return refuse(Outcome.DENY, "no_rule_allows")
        failure: tuple[Outcome, str] | None = None
        for rule in allows:
            categories, failed = self._conditions(rule, target)
            if failed is None:
                obligations = self._obligations_for(spec, action, categories, target.purpose)
                return Decision(action, Outcome.ALLOW, rule.reason, ids, obligations, on=on)
            failure = failure or failed
        assert failure is not None
        return refuse(*failure)

    def _conditions(
        self, rule: Rule, target: Target
    ) -> tuple[frozenset[str] | None, tuple[Outcome, str] | None]:
        """(categories released or None for all, the first failed condition or None)."""
        if "legal_basis" in rule.conditions:
            return self._legal_basis(target)
        if "consent" not in rule.conditions:
            return None, None
        consent = target.consent
        if consent is None:
            return None, (Outcome.NOT_FOUND, "no_consent")
        if not consent.audience_matches:
            return None, (Outcome.NOT_FOUND, "consent_for_another_institution")
        if not consent.subject_matches:
            return None, (Outcome.NOT_FOUND, "consent_for_another_subject")
        purpose = self._policy.purposes.get(target.purpose or "")
        if purpose is None:
            return None, (Outcome.DENY, "purpose_not_listed")
        if consent.purpose != purpose.code:
            return None, (Outcome.DENY, "purpose_not_consented")
        released = purpose.categories & consent.scope
        if not released:
            return None, (Outcome.DENY, "no_category_released")
        return frozenset(released), None

    def _legal_basis(
        self, target: Target
    ) -> tuple[frozenset[str] | None, tuple[Outcome, str] | None]:
        basis = target.legal_basis
        if basis is None:
            return None, (Outcome.DENY, "no_legal_basis")
        purpose = self._government.purposes.get(target.purpose or "")
        if purpose is None:
            return None, (Outcome.DENY, "purpose_not_listed")
        if purpose.code not in basis.registered_purposes:
            return None, (Outcome.DENY, "purpose_not_registered")
        if basis.regulation not in purpose.regulations:
            return None, (Outcome.DENY, "legal_basis_not_for_purpose")
        return purpose.categories, None

    def _types_for(self, tier: Tier) -> tuple[RecordType, ...]:
        spec = self._policy.tiers[tier]
        return tuple(
            rt for rt in self._catalog.record_types.values() if rt.disclosure in spec.disclosures
        )

    def _obligations_for(
        self,
        spec: ActionSpec,
        action: Action,
        categories: frozenset[str] | None,
        purpose: str | None,
    ) -> Obligations | None:
        """`_obligations`, remembered per combination; only declared purposes (or none) are
        remembered, so a caller cannot grow the memory with made-up purposes."""
        declared = purpose in self._policy.purposes or purpose in self._government.purposes
        if purpose is not None and not declared:
            return self._obligations(spec, categories, purpose)
        key = (action.value, categories, purpose)
        if key not in self._obligations_made:
            self._obligations_made[key] = self._obligations(spec, categories, purpose)
        return self._obligations_made[key]

    def _obligations(
        self, spec: ActionSpec, categories: frozenset[str] | None, purpose: str | None
    ) -> Obligations | None:
        if spec.tier is None:
            return None
        tier = spec.tier
        masks: dict[tuple[str, str], MaskKind] = {}
        types: set[str] = set()
        if spec.releases:
            for rt in self._tier_types[tier]:
                if categories is None or rt.category in categories:
                    types.add(rt.code)
                    masks.update({(rt.code, f.name): f.mask(tier) for f in rt.fields})
            for name, kind in self._policy.tiers[tier].identity.items():
                masks[(SUBJECT_TYPE, name)] = kind
        fee = spec.fee or Fee()
        declared = self._policy.purposes.get(purpose or "")
        if categories is not None and declared is not None and declared.fee_fen is not None:
            fee = Fee(amount_fen=declared.fee_fen)
        named = declared.code if declared is not None else None
        if spec.action.tier == "government":
            named = purpose if purpose in self._government.purposes else None
        return Obligations(
            tier=tier,
            record_types=frozenset(types),
            masks=MappingProxyType(masks),
            hide_undisplayed=True,
            fee=fee,
            daily_limit=spec.daily_limit,
            purpose=named if categories is not None else None,
        )
