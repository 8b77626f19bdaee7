"""The policy engine, table-driven over actions x callers x relations, on the packaged data."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from policies.actions import QUERY_TIERS, Action
from policies.catalog import default_catalog
from policies.decision import Caller, ConsentFacts, Outcome, Strength, Target
from policies.engine import SUBJECT_TYPE, PolicyEngine
from policies.policy_data import PolicyData, Rule, load_policy

ON = date(2026, 3, 1)
CATALOG = default_catalog()
ENGINE = PolicyEngine(load_policy(), CATALOG)

ANON = Caller("anonymous")
SUBJECT = Caller("subject", frozenset({"password", "card"}))
SUBJECT_PASSWORD_ONLY = Caller("subject", frozenset({"password"}))
CASHIER = Caller("staff", frozenset({"password", "totp"}), frozenset({"cashier"}))
CASHIER_NO_TOTP = Caller("staff", frozenset({"password"}), frozenset({"cashier"}))
REGISTRAR = Caller("staff", frozenset({"password", "totp"}), frozenset({"registrar"}))
BANK = Caller("institution", frozenset({"oauth"}), scopes=frozenset({"institution:report:query"}))
BANK_NO_SCOPE = Caller("institution", frozenset({"oauth"}))
PROVIDER = Caller("payment_provider", frozenset({"hmac"}))
OWN, OTHER = Target(relation="own"), Target(relation="other")
A, D, N, S, U = (
    Outcome.ALLOW,
    Outcome.DENY,
    Outcome.NOT_FOUND,
    Outcome.STEP_UP,
    Outcome.UNAUTHENTICATED,
)
CALLERS = {
    "anon": ANON,
    "subject": SUBJECT,
    "subject_pw": SUBJECT_PASSWORD_ONLY,
    "cashier": CASHIER,
    "cashier_pw": CASHIER_NO_TOTP,
    "registrar": REGISTRAR,
    "bank": BANK,
    "provider": PROVIDER,
}

# Expected outcome for each action and caller on the caller's own resource.
#              anon subject subject_pw cashier cashier_pw registrar bank provider
EXPECTED: dict[Action, tuple[Outcome, ...]] = {
    Action.SERVICE_HOME_READ: (A, A, A, A, A, A, A, A),
    Action.SERVICE_HEALTH_READ: (A, A, A, A, A, A, A, A),
    Action.SERVICE_CATALOG_READ: (A, A, A, A, A, A, A, A),
    Action.SERVICE_OPENAPI_READ: (A, A, A, A, A, A, A, A),
    Action.AUTH_LOGIN_PAGE_READ: (A, A, A, A, A, A, A, A),
    Action.AUTH_CHALLENGE_CREATE: (A, A, A, A, A, A, A, A),
    Action.AUTH_SESSION_CREATE: (A, A, A, A, A, A, A, A),
    Action.AUTH_TOKEN_CREATE: (A, A, A, A, A, A, A, A),
    Action.AUTH_TOKEN_REVOKE: (A, A, A, A, A, A, A, A),
    Action.AUTH_SESSION_READ: (U, A, A, A, A, A, D, D),
    Action.AUTH_SESSION_END: (U, A, A, A, A, A, D, D),
    Action.AUTH_PASSWORD_CHANGE: (U, A, A, A, A, A, D, D),
    Action.AUTH_TOTP_ENROL: (U, D, D, A, A, A, D, D),
    Action.AUTH_SESSION_STEP_UP: (U, D, D, A, S, A, D, D),
    Action.PUBLIC_LIST_SEARCH: (U, A, S, D, D, D, D, D),
    Action.PUBLIC_REPORT_VERIFY: (A, A, A, A, A, A, A, A),  # anyone: valid or not, no contents
    Action.SELF_REPORT_READ: (U, A, S, D, D, D, D, D),
    Action.SELF_QUERY_LOG_READ: (U, A, S, D, D, D, D, D),
    Action.SELF_CONSENT_CREATE: (U, A, S, D, D, D, D, D),
    Action.SELF_CONSENT_READ: (U, A, S, D, D, D, D, D),
    Action.SELF_CONSENT_REVOKE: (U, A, S, D, D, D, D, D),
    Action.SELF_ORDER_READ: (U, A, S, D, D, D, D, D),
    Action.ARCHIVE_ORDER_CREATE: (U, A, S, D, D, D, D, D),
    Action.ARCHIVE_REPORT_READ: (U, A, S, D, D, D, D, D),
    Action.BILLING_ORDER_CONFIRM: (U, D, D, A, S, D, D, D),
    Action.BILLING_ORDER_REFUND: (U, D, D, A, S, D, D, D),
    Action.BILLING_LEDGER_TOPUP: (U, D, D, A, S, D, D, D),
    Action.BILLING_LEDGER_READ: (U, D, D, A, S, D, D, D),
    Action.BILLING_PAYMENT_NOTIFY: (U, D, D, D, D, D, D, A),
    Action.INSTITUTION_IDENTITY_READ: (U, D, D, D, D, D, A, D),
    Action.INSTITUTION_LEDGER_READ: (U, D, D, D, D, D, A, D),
    Action.INSTITUTION_REPORT_QUERY: (U, D, D, D, D, D, N, D),  # no consent: not found
    Action.AUTH_CARD_REPORT_LOST: (A, A, A, A, A, A, A, A),  # the password is in the request
    Action.SELF_NOTICE_READ: (U, A, S, D, D, D, D, D),
    Action.REGISTRY_SUBJECT_ENROL: (U, D, D, S, S, S, D, D),  # registrars add the card
    Action.REGISTRY_CARD_ISSUE: (U, D, D, S, S, S, D, D),
    Action.REGISTRY_CARD_REPLACE: (U, D, D, S, S, S, D, D),
    Action.PROVIDER_RECORDS_SUBMIT: (U, D, D, D, D, D, D, D),  # needs the provider scope
    Action.PROVIDER_BATCH_READ: (U, D, D, D, D, D, D, D),
    Action.SERVICE_INTAKE_SCHEMA_READ: (A, A, A, A, A, A, A, A),
    Action.COMPLIANCE_LIST_READ: (U, D, D, D, S, D, D, D),  # officers only (role)
    Action.COMPLIANCE_LIST_REVIEW: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_LIST_DERIVE: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_STATISTICS_READ: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_LOG_SEARCH: (U, D, D, D, S, D, D, D),  # officers only (role)
    Action.COMPLIANCE_LOG_READ: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_DISCLOSURE_READ: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_CONSENT_VERIFY: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_FLAG_READ: (U, D, D, D, S, D, D, D),
    Action.STATISTICS_AGGREGATE_READ: (U, D, D, D, D, D, D, D),  # needs the statistics scope
    Action.COMPLIANCE_GOVERNMENT_QUERY_READ: (U, D, D, D, S, D, D, D),  # officers only (role)
    Action.GOVERNMENT_REPORT_QUERY: (U, D, D, D, D, D, D, D),  # needs the government scope
    Action.SELF_OBJECTION_CREATE: (U, A, S, D, D, D, D, D),
    Action.SELF_OBJECTION_READ: (U, A, S, D, D, D, D, D),
    Action.SELF_STATEMENT_CREATE: (U, A, S, D, D, D, D, D),
    Action.SELF_STATEMENT_READ: (U, A, S, D, D, D, D, D),
    Action.SELF_STATEMENT_WITHDRAW: (U, A, S, D, D, D, D, D),
    Action.REGISTRY_OBJECTION_READ: (U, D, D, S, S, S, D, D),  # registrars add the card
    Action.REGISTRY_OBJECTION_RESOLVE: (U, D, D, S, S, S, D, D),
    Action.REGISTRY_OBJECTION_ESCALATE: (U, D, D, S, S, S, D, D),
    Action.PROVIDER_OBJECTION_READ: (U, D, D, D, D, D, D, D),  # needs the provider scope
    Action.INSTITUTION_DISPUTE_READ: (U, D, D, D, D, D, A, D),  # records it received
    Action.SELF_INBOX_READ: (U, A, S, D, D, D, D, D),
    Action.SELF_GRADE_READ: (U, A, S, D, D, D, D, D),
    Action.REGISTRY_GRADE_READ: (U, D, D, S, S, S, D, D),  # registrars add the card
    Action.REGISTRY_GRADE_APPROVE: (U, D, D, S, S, S, D, D),
    Action.REGISTRY_GRADE_RECOMPUTE: (U, D, D, S, S, S, D, D),
    Action.SELF_REPAIR_CREATE: (U, A, S, D, D, D, D, D),
    Action.SELF_REPAIR_READ: (U, A, S, D, D, D, D, D),
    Action.REGISTRY_REPAIR_READ: (U, D, D, S, S, S, D, D),  # registrars add the card
    Action.REGISTRY_REPAIR_DECIDE: (U, D, D, S, S, S, D, D),
    Action.COMPLIANCE_CASE_READ: (U, D, D, D, S, D, D, D),  # officers only (role)
    Action.COMPLIANCE_CASE_OPEN: (U, D, D, D, S, D, D, D),
    Action.COMPLIANCE_CASE_DECIDE: (U, D, D, D, S, D, D, D),
    # operator: host commands' entries; no route and no allow rule, so even a staff member who
    # adds the card is then denied
    Action.OPERATOR_INSTITUTION_REGISTER: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_INSTITUTION_DISABLE: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_INSTITUTION_ROTATE_KEY: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_STAFF_CREATE: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_ROLE_GRANT: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_ROLE_REVOKE: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_KEY_ROTATE: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_KEY_SHRED: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_CARD_ISSUE: (U, D, D, S, S, S, D, D),
    Action.OPERATOR_CARD_REVOKE: (U, D, D, S, S, S, D, D),
}


def test_the_table_covers_every_action() -> None:
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_every_action_for_every_caller(action: Action, caller_name: str) -> None:
    expected = EXPECTED[action][list(CALLERS).index(caller_name)]
    decision = ENGINE.decide(CALLERS[caller_name], action, OWN, on=ON)
    assert decision.outcome is expected, decision
    assert decision.action is action
    assert decision.on == ON
    assert decision.reason
    assert decision.reason.replace("_", "").isalpha()
    if decision.allowed:
        assert decision.rule_ids, "an allow always names the rule that allowed it"


@pytest.mark.parametrize("action", [a for a in Action if a.tier == "self"], ids=str)
def test_someone_elses_resource_is_not_found_never_forbidden(action: Action) -> None:
    decision = ENGINE.decide(SUBJECT, action, OTHER, on=ON)
    assert decision.outcome is Outcome.NOT_FOUND
    assert ENGINE.decide(SUBJECT, action, Target(), on=ON).outcome is Outcome.NOT_FOUND


def test_archive_report_of_someone_elses_order_is_not_found() -> None:
    assert ENGINE.decide(SUBJECT, Action.ARCHIVE_REPORT_READ, OTHER, on=ON).outcome is N


def test_staff_are_refused_the_query_tiers_by_an_explicit_deny_rule() -> None:
    queries = (a for a in Action if a.tier in ("public", "self", "archive"))
    for action in (a for a in queries if a is not Action.PUBLIC_REPORT_VERIFY):
        decision = ENGINE.decide(CASHIER, action, OWN, on=ON)
        assert decision.outcome is Outcome.DENY
        assert "staff-never-query" in decision.rule_ids
        assert decision.reason == "staff_accounts_do_not_query"


def test_an_explicit_deny_beats_an_allow() -> None:
    # Make self:report:read reachable for staff and add an allow rule for them: the explicit
    # deny for staff on the query tiers must still win.
    policy = load_policy()
    extra = Rule(
        "staff-reports", "allow", ("self:report:read",), "bogus_allow", frozenset({"staff"})
    )
    odd_staff = Caller("staff", frozenset({"password", "totp"}))
    strengths = dataclasses.replace(
        policy.actions[Action.SELF_REPORT_READ], strength=Strength.STAFF_TOTP
    )
    actions = {**policy.actions, Action.SELF_REPORT_READ: strengths}
    engine = PolicyEngine(
        dataclasses.replace(policy, rules=(extra, *policy.rules), actions=actions), CATALOG
    )
    decision = engine.decide(odd_staff, Action.SELF_REPORT_READ, OWN, on=ON)
    assert decision.outcome is Outcome.DENY
    assert set(decision.rule_ids) == {"staff-reports", "staff-never-query"}
    assert decision.reason == "staff_accounts_do_not_query"


def test_an_action_the_data_does_not_list_is_denied_to_everybody() -> None:
    policy = load_policy()
    actions = {a: s for a, s in policy.actions.items() if a is not Action.SERVICE_HEALTH_READ}
    engine = PolicyEngine(dataclasses.replace(policy, actions=actions), CATALOG)
    for caller in CALLERS.values():
        decision = engine.decide(caller, Action.SERVICE_HEALTH_READ, on=ON)
        assert decision.outcome is Outcome.DENY
        assert decision.reason == "action_not_in_policy"
    assert engine.strength_for(Action.SERVICE_HEALTH_READ) is None


def test_no_matching_rule_is_denied() -> None:
    policy: PolicyData = load_policy()
    rules = tuple(r for r in policy.rules if r.id != "service-open")
    engine = PolicyEngine(dataclasses.replace(policy, rules=rules), CATALOG)
    decision = engine.decide(SUBJECT, Action.SERVICE_HOME_READ, on=ON)
    assert decision.outcome is Outcome.DENY
    assert decision.reason == "no_rule_allows"


def test_an_action_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        ENGINE.decide(SUBJECT, "self:report:write", OWN, on=ON)  # type: ignore[arg-type]


def test_a_cashier_role_is_needed_for_billing() -> None:
    decision = ENGINE.decide(REGISTRAR, Action.BILLING_ORDER_CONFIRM, on=ON)
    assert decision.outcome is Outcome.DENY
    assert decision.reason == "no_rule_allows"


def test_an_institution_token_without_the_scope_is_denied() -> None:
    consent = ConsentFacts(True, True, "loan_approval", frozenset("ABCD"))
    target = Target(purpose="loan_approval", consent=consent)
    decision = ENGINE.decide(BANK_NO_SCOPE, Action.INSTITUTION_REPORT_QUERY, target, on=ON)
    assert decision.outcome is Outcome.DENY


# --- obligations ------------------------------------------------------------------------------


def _types(disclosures: set[str], categories: str = "ABCD") -> set[str]:
    return {
        code
        for code, rt in CATALOG.record_types.items()
        if rt.disclosure in disclosures and rt.category in categories
    }


@pytest.mark.parametrize(
    ("action", "tier", "disclosures"),
    [
        (Action.SELF_REPORT_READ, "self", {"public", "archive", "restricted"}),
        (Action.PUBLIC_LIST_SEARCH, "public", {"public"}),
        (Action.ARCHIVE_REPORT_READ, "archive", {"public", "archive"}),
    ],
)
def test_obligations_release_the_tiers_types_with_catalog_masks(
    action: Action, tier: str, disclosures: set[str]
) -> None:
    decision = ENGINE.decide(SUBJECT, action, OWN, on=ON)
    ob = decision.obligations
    assert ob is not None
    assert ob.tier == tier
    assert ob.record_types == _types(disclosures)
    assert ob.hide_undisplayed is True  # the law: expired negatives stop showing to everybody
    for code in ob.record_types:
        for spec in CATALOG.require(code).fields:
            assert ob.mask(code, spec.name) == spec.mask(tier)  # type: ignore[arg-type]
    withheld = _types({"public", "archive", "restricted"}) - ob.record_types
    assert all(code not in {c for c, _ in ob.masks} for code in withheld)


def test_identity_masks_per_tier() -> None:
    self_ob = ENGINE.decide(SUBJECT, Action.SELF_REPORT_READ, OWN, on=ON).obligations
    public_ob = ENGINE.decide(SUBJECT, Action.PUBLIC_LIST_SEARCH, OWN, on=ON).obligations
    archive_ob = ENGINE.decide(SUBJECT, Action.ARCHIVE_REPORT_READ, OWN, on=ON).obligations
    assert self_ob is not None
    assert public_ob is not None
    assert archive_ob is not None
    assert self_ob.mask(SUBJECT_TYPE, "id_number") == "none"
    for ob in (public_ob, archive_ob):
        assert ob.mask(SUBJECT_TYPE, "id_number") == "first6_last4"
    assert public_ob.mask(SUBJECT_TYPE, "name") == "none"  # the lists are published by name
    assert archive_ob.mask(SUBJECT_TYPE, "name") == "redact"  # never confirms who it is


def test_a_sensitive_field_is_never_unmasked_for_the_public_tier() -> None:
    ob = ENGINE.decide(SUBJECT, Action.PUBLIC_LIST_SEARCH, OWN, on=ON).obligations
    assert ob is not None
    sensitive = [
        (code, f.name)
        for code in ob.record_types
        for f in CATALOG.require(code).fields
        if f.sensitive
    ]
    assert sensitive, "the public lists hold sensitive fields to test"
    assert all(ob.mask(code, name) != "none" for code, name in sensitive)


def test_fees_and_limits_come_from_the_data() -> None:
    self_ob = ENGINE.decide(SUBJECT, Action.SELF_REPORT_READ, OWN, on=ON).obligations
    order_ob = ENGINE.decide(SUBJECT, Action.ARCHIVE_ORDER_CREATE, on=ON).obligations
    search_ob = ENGINE.decide(SUBJECT, Action.PUBLIC_LIST_SEARCH, on=ON).obligations
    assert self_ob is not None
    assert order_ob is not None
    assert search_ob is not None
    assert (self_ob.fee.amount_fen, self_ob.fee.free_per_year) == (1000, 2)
    assert order_ob.fee.amount_fen == 2000
    assert order_ob.record_types == frozenset()
    assert search_ob.daily_limit == 50
    assert search_ob.fee.amount_fen == 0
    assert ENGINE.free_self_reports_per_year == 2
    assert ENGINE.archive_download_days == 7
    assert (ENGINE.consent_max_days, ENGINE.consent_max_uses) == (90, 10)


def test_non_query_actions_carry_no_obligations() -> None:
    for action in Action:
        decision = ENGINE.decide(CASHIER, action, OWN, on=ON)
        if decision.allowed and action.tier not in QUERY_TIERS:
            assert decision.obligations is None


# --- institutional queries under consent ----------------------------------------------------


def _consent(**changes: object) -> ConsentFacts:
    base = ConsentFacts(True, True, "loan_approval", frozenset({"A", "B", "C", "D"}))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("purpose", "consent", "outcome", "reason"),
    [
        ("loan_approval", None, N, "no_consent"),
        ("loan_approval", _consent(audience_matches=False), N, "consent_for_another_institution"),
        ("loan_approval", _consent(subject_matches=False), N, "consent_for_another_subject"),
        ("marketing", _consent(purpose="marketing"), D, "purpose_not_listed"),
        (None, _consent(), D, "purpose_not_listed"),
        ("tenancy_screening", _consent(), D, "purpose_not_consented"),
        ("loan_approval", _consent(scope=frozenset({"C"})), D, "no_category_released"),
        ("loan_approval", _consent(), A, "institution_report_under_consent"),
    ],
)
def test_institution_report_needs_a_matching_consent(
    purpose: str | None, consent: ConsentFacts | None, outcome: Outcome, reason: str
) -> None:
    target = Target(relation="other", purpose=purpose, consent=consent)
    decision = ENGINE.decide(BANK, Action.INSTITUTION_REPORT_QUERY, target, on=ON)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    assert "institution-report-under-consent" in decision.rule_ids


@pytest.mark.parametrize(
    ("purpose", "scope", "released"),
    [
        ("loan_approval", "ABCD", "ABD"),
        ("loan_approval", "AB", "AB"),
        ("employment_screening", "ABCD", "ACD"),
        ("employment_screening", "BC", "C"),
        ("tenancy_screening", "AD", "AD"),
    ],
)
def test_institution_sees_purpose_categories_intersected_with_consent_scope(
    purpose: str, scope: str, released: str
) -> None:
    target = Target(purpose=purpose, consent=_consent(purpose=purpose, scope=frozenset(scope)))
    ob = ENGINE.decide(BANK, Action.INSTITUTION_REPORT_QUERY, target, on=ON).obligations
    assert ob is not None
    assert ob.tier == "institution"
    assert ob.purpose == purpose
    assert ob.record_types == _types({"public", "archive", "restricted"}, released)
    assert {CATALOG.require(c).category for c in ob.record_types} == set(released)
    assert ob.mask(SUBJECT_TYPE, "id_number") == "first6_last4"
    for code in ob.record_types:
        for spec in CATALOG.require(code).fields:
            assert ob.mask(code, spec.name) == spec.mask("institution")


def test_institution_fee_follows_the_purpose() -> None:
    def fee(purpose: str) -> int:
        target = Target(purpose=purpose, consent=_consent(purpose=purpose))
        ob = ENGINE.decide(BANK, Action.INSTITUTION_REPORT_QUERY, target, on=ON).obligations
        assert ob is not None
        return ob.fee.amount_fen

    assert fee("loan_approval") == 2500  # the default institution report fee
    assert fee("employment_screening") == 2000
    assert fee("tenancy_screening") == 1500


def test_purposes_are_the_closed_list() -> None:
    assert set(ENGINE.purposes) == {
        "loan_approval",
        "credit_card_approval",
        "guarantee_review",
        "post_loan_management",
        "employment_screening",
        "tenancy_screening",
    }
    assert ENGINE.purposes["employment_screening"].categories == frozenset("ACD")


OFFICER = Caller("staff", frozenset({"password", "totp"}), frozenset({"compliance"}))
OFFICER_PASSWORD_ONLY = Caller("staff", frozenset({"password"}), frozenset({"compliance"}))
OFFICER_WITH_CARD = Caller(
    "staff", frozenset({"password", "totp", "card"}), frozenset({"compliance"})
)
#: What a compliance officer (password + TOTP) may do besides what needs no login or only a
#: session: the compliance tier, nothing else (no query tier, no billing, no registry).
OFFICER_ALLOWED = {
    Action.AUTH_SESSION_READ,
    Action.AUTH_SESSION_END,
    Action.AUTH_TOTP_ENROL,
    Action.AUTH_SESSION_STEP_UP,
    Action.AUTH_PASSWORD_CHANGE,  # everyone changes their own password
    *(action for action in Action if action.tier == "compliance"),
}


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_compliance_officers_get_the_compliance_tier_and_nothing_more(action: Action) -> None:
    decision = ENGINE.decide(OFFICER, action, OWN, on=ON)
    open_to_all = ENGINE.decide(ANON, action, OWN, on=ON).allowed
    assert decision.allowed is (open_to_all or action in OFFICER_ALLOWED), decision
    assert ENGINE.decide(OFFICER_WITH_CARD, action, OWN, on=ON).allowed is decision.allowed
    if action.tier == "compliance":
        # the full staff login is needed: password alone is asked to step up, never allowed
        weak = ENGINE.decide(OFFICER_PASSWORD_ONLY, action, OWN, on=ON)
        assert weak.outcome is Outcome.STEP_UP
        assert ENGINE.strength_for(action) is Strength.STAFF_TOTP
        assert ENGINE.strength_for(action) is ENGINE.strength_for(Action.COMPLIANCE_LIST_REVIEW)


@pytest.mark.parametrize("action", [a for a in Action if a.startswith("operator:")], ids=str)
def test_no_caller_of_the_service_is_allowed_an_operator_action(action: Action) -> None:
    """`operator:*` actions only name what a host command did in the query log."""
    with_card = Caller("staff", frozenset({"password", "totp", "card"}), frozenset({"registrar"}))
    assert ENGINE.decide(with_card, action, OWN, on=ON).outcome is Outcome.DENY
