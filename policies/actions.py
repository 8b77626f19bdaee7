"""The closed action vocabulary: every route of the service is bound to exactly one of these.

An action is `<tier>:<resource>:<verb>`. The tier says on whose behalf and under which
disclosure class the request acts: `public` (free self-service over the public lists), `self`
(a subject about themselves), `archive` (the paid archive query), `institution` (third parties
under the subject's signed consent), `billing` (cashiers and the payment provider),
`government` (administrative queriers citing a legal basis instead of a consent),
`registry` (registrars enrolling subjects and issuing their cards), `provider` (departments
furnishing, correcting and withdrawing records), `compliance` (officers reviewing lists,
statistics and the query log), `statistics` (aggregates for government, no subject-level data),
and the non-query tiers `service` (health, catalog, API description, intake schemas) and `auth`
(logins and sessions), and `operator` (staff actions at the server's command line, logged).
Anything not in this enum cannot be decided, so it cannot be allowed.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # service: disclose nothing personal
    SERVICE_HOME_READ = "service:home:read"
    SERVICE_HEALTH_READ = "service:health:read"
    SERVICE_CATALOG_READ = "service:catalog:read"
    SERVICE_OPENAPI_READ = "service:openapi:read"
    # auth: logins, sessions, second factors, institution tokens
    AUTH_LOGIN_PAGE_READ = "auth:login_page:read"
    AUTH_CHALLENGE_CREATE = "auth:challenge:create"
    AUTH_SESSION_CREATE = "auth:session:create"
    AUTH_SESSION_READ = "auth:session:read"
    AUTH_SESSION_END = "auth:session:end"
    AUTH_SESSION_STEP_UP = "auth:session:step_up"
    AUTH_TOTP_ENROL = "auth:totp:enrol"
    AUTH_PASSWORD_CHANGE = "auth:password:change"  # noqa: S105 (an action name)
    AUTH_TOKEN_CREATE = "auth:token:create"  # noqa: S105 (an action name)
    AUTH_TOKEN_REVOKE = "auth:token:revoke"  # noqa: S105 (an action name)
    # public: free self-service query of what the law allows to disclose
    PUBLIC_LIST_SEARCH = "public:list:search"
    PUBLIC_REPORT_VERIFY = "public:report:verify"  # anyone: is this PDF report one we issued?
    # self: a subject about themselves
    SELF_REPORT_READ = "self:report:read"
    SELF_QUERY_LOG_READ = "self:query_log:read"
    SELF_CONSENT_CREATE = "self:consent:create"
    SELF_CONSENT_READ = "self:consent:read"
    SELF_CONSENT_REVOKE = "self:consent:revoke"
    SELF_ORDER_READ = "self:order:read"
    # archive: the paid query of state-held information
    ARCHIVE_ORDER_CREATE = "archive:order:create"
    ARCHIVE_REPORT_READ = "archive:report:read"
    # billing: cashiers and the payment provider
    BILLING_ORDER_CONFIRM = "billing:order:confirm"
    BILLING_ORDER_REFUND = "billing:order:refund"
    BILLING_PAYMENT_NOTIFY = "billing:payment:notify"
    BILLING_LEDGER_TOPUP = "billing:ledger:topup"
    BILLING_LEDGER_READ = "billing:ledger:read"
    # institution: third parties, only under the subject's signed consent
    INSTITUTION_IDENTITY_READ = "institution:identity:read"
    INSTITUTION_REPORT_QUERY = "institution:report:query"
    INSTITUTION_LEDGER_READ = "institution:ledger:read"
    # a subject reports their card lost (password only: the card is what is missing)
    AUTH_CARD_REPORT_LOST = "auth:card:report_lost"
    SELF_NOTICE_READ = "self:notice:read"
    # registry: registrars enrol subjects and issue their cards
    REGISTRY_SUBJECT_ENROL = "registry:subject:enrol"
    REGISTRY_CARD_ISSUE = "registry:card:issue"
    REGISTRY_CARD_REPLACE = "registry:card:replace"
    # provider: departments furnish, correct and withdraw records in the unified format
    PROVIDER_RECORDS_SUBMIT = "provider:records:submit"
    PROVIDER_BATCH_READ = "provider:batch:read"
    SERVICE_INTAKE_SCHEMA_READ = "service:intake_schema:read"
    # compliance: officers review list changes before publication (双公示 review)
    COMPLIANCE_LIST_READ = "compliance:list:read"
    COMPLIANCE_LIST_REVIEW = "compliance:list:review"
    COMPLIANCE_LIST_DERIVE = "compliance:list:derive"
    COMPLIANCE_STATISTICS_READ = "compliance:statistics:read"
    COMPLIANCE_GOVERNMENT_QUERY_READ = "compliance:government_query:read"
    # government: administrative queriers, on a legal basis instead of a consent (OAuth)
    GOVERNMENT_REPORT_QUERY = "government:report:query"
    # compliance: officers search and read the query log, and check that every disclosure is
    # explained (by the subject, a paid order, a consent token or a legal basis)
    COMPLIANCE_LOG_SEARCH = "compliance:log:search"
    COMPLIANCE_LOG_READ = "compliance:log:read"
    COMPLIANCE_DISCLOSURE_READ = "compliance:disclosure:read"
    COMPLIANCE_CONSENT_VERIFY = "compliance:consent:verify"
    COMPLIANCE_FLAG_READ = "compliance:flag:read"  # what the review rules flagged
    # compliance: cases a flag opens (open → in review → cleared, or escalated → closed);
    # escalating and closing an escalated case take a second officer (four eyes)
    COMPLIANCE_CASE_READ = "compliance:case:read"
    COMPLIANCE_CASE_OPEN = "compliance:case:open"  # e.g. to lift an institution's suspension
    COMPLIANCE_CASE_DECIDE = "compliance:case:decide"
    # statistics: aggregates for government and the regulator (OAuth, scope statistics:read)
    STATISTICS_AGGREGATE_READ = "statistics:aggregate:read"
    # subjects' rights on their records: objections (异议) and statements (个人声明)
    SELF_OBJECTION_CREATE = "self:objection:create"
    SELF_OBJECTION_READ = "self:objection:read"
    SELF_STATEMENT_CREATE = "self:statement:create"
    SELF_STATEMENT_READ = "self:statement:read"
    SELF_STATEMENT_WITHDRAW = "self:statement:withdraw"
    REGISTRY_OBJECTION_READ = "registry:objection:read"
    REGISTRY_OBJECTION_RESOLVE = "registry:objection:resolve"
    REGISTRY_OBJECTION_ESCALATE = "registry:objection:escalate"
    PROVIDER_OBJECTION_READ = "provider:objection:read"
    INSTITUTION_DISPUTE_READ = "institution:dispute:read"
    SELF_INBOX_READ = "self:inbox:read"
    # operator: staff actions at the server's command line (`flask institutions|accounts|keys|
    # cards`): no route, no login of the service; logged under the host's login name so the
    # review covers the people inside (ARCHITECTURE §7)
    OPERATOR_INSTITUTION_REGISTER = "operator:institution:register"
    OPERATOR_INSTITUTION_DISABLE = "operator:institution:disable"
    OPERATOR_INSTITUTION_ROTATE_KEY = "operator:institution:rotate_key"
    OPERATOR_STAFF_CREATE = "operator:staff:create"
    OPERATOR_ROLE_GRANT = "operator:role:grant"
    OPERATOR_ROLE_REVOKE = "operator:role:revoke"
    OPERATOR_KEY_ROTATE = "operator:key:rotate"
    OPERATOR_KEY_SHRED = "operator:key:shred"
    OPERATOR_CARD_ISSUE = "operator:card:issue"
    OPERATOR_CARD_REVOKE = "operator:card:revoke"
    # grades A-E: the subject's own, and registrars' second approval of an A or an E
    SELF_GRADE_READ = "self:grade:read"
    REGISTRY_GRADE_READ = "registry:grade:read"
    REGISTRY_GRADE_APPROVE = "registry:grade:approve"
    REGISTRY_GRADE_RECOMPUTE = "registry:grade:recompute"
    SELF_REPAIR_CREATE = "self:repair:create"
    SELF_REPAIR_READ = "self:repair:read"
    REGISTRY_REPAIR_READ = "registry:repair:read"
    REGISTRY_REPAIR_DECIDE = "registry:repair:decide"

    @property
    def tier(self) -> str:
        return self.value.split(":", 1)[0]

    @property
    def resource(self) -> str:
        return self.value.split(":")[1]

    @property
    def verb(self) -> str:
        return self.value.rsplit(":", 1)[1]


#: Tiers whose query-log entries a subject is shown as "query records".
QUERY_TIERS = frozenset({"public", "self", "archive", "institution", "government"})

#: Query-tier actions a subject takes about their own rights, not looks at their report: they
#: are logged like every other attempt but are not "query records" (who looked at the report).
NOT_QUERY_RECORDS = frozenset(
    {
        Action.SELF_OBJECTION_CREATE,
        Action.SELF_OBJECTION_READ,
        Action.SELF_STATEMENT_CREATE,
        Action.SELF_STATEMENT_READ,
        Action.SELF_STATEMENT_WITHDRAW,
        Action.SELF_INBOX_READ,
        Action.SELF_GRADE_READ,
        Action.SELF_REPAIR_CREATE,
        Action.SELF_REPAIR_READ,
    }
)

#: Actions that release, price or pay for credit information: every attempt at one of these,
#: allowed, denied or failed, writes exactly one query-log entry. (Reading one's own orders and
#: managing one's own consents release no credit information and are not logged there.)
LOGGED_ACTIONS = frozenset(
    {
        Action.PUBLIC_LIST_SEARCH,
        Action.PUBLIC_REPORT_VERIFY,
        Action.SELF_REPORT_READ,
        Action.SELF_QUERY_LOG_READ,
        Action.ARCHIVE_ORDER_CREATE,
        Action.ARCHIVE_REPORT_READ,
        Action.INSTITUTION_REPORT_QUERY,
        Action.GOVERNMENT_REPORT_QUERY,
        Action.COMPLIANCE_GOVERNMENT_QUERY_READ,
        Action.BILLING_PAYMENT_NOTIFY,
        Action.COMPLIANCE_LOG_SEARCH,
        Action.COMPLIANCE_LOG_READ,
        Action.COMPLIANCE_DISCLOSURE_READ,
        Action.COMPLIANCE_CONSENT_VERIFY,
        Action.COMPLIANCE_FLAG_READ,
        Action.COMPLIANCE_CASE_READ,
        Action.COMPLIANCE_CASE_OPEN,
        Action.COMPLIANCE_CASE_DECIDE,
        Action.BILLING_ORDER_CONFIRM,
        Action.BILLING_ORDER_REFUND,
        Action.BILLING_LEDGER_TOPUP,
        Action.SELF_OBJECTION_CREATE,
        Action.SELF_OBJECTION_READ,
        Action.SELF_STATEMENT_CREATE,
        Action.SELF_STATEMENT_READ,
        Action.SELF_STATEMENT_WITHDRAW,
        Action.REGISTRY_OBJECTION_READ,
        Action.REGISTRY_OBJECTION_RESOLVE,
        Action.REGISTRY_OBJECTION_ESCALATE,
        Action.PROVIDER_OBJECTION_READ,
        Action.INSTITUTION_DISPUTE_READ,
        Action.SELF_INBOX_READ,
        Action.SELF_GRADE_READ,
        Action.REGISTRY_GRADE_READ,
        Action.REGISTRY_GRADE_APPROVE,
        Action.REGISTRY_GRADE_RECOMPUTE,
        Action.SELF_REPAIR_CREATE,
        Action.SELF_REPAIR_READ,
        Action.REGISTRY_REPAIR_READ,
        Action.REGISTRY_REPAIR_DECIDE,
    }
)


def parse_action(text: str) -> Action:
    """The action named `text`; `ValueError` for anything outside the closed vocabulary."""
    try:
        return Action(text)
    except ValueError:
        raise ValueError(f"unknown action {text!r}") from None
