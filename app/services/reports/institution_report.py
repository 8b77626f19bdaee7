"""An institution's report query under the subject's consent token (issue 4 item 4).

One unit of work, in the caller's transaction, with the shape of every query endpoint
(docs/queries.md). Guarantees:
- the only HSM call is the blind index of the ID number (the subject is found by it; the ID
  number itself is never stored, logged or put in a message);
- the consent is verified and its use counted (`ConsentService.verify_and_use`), the engine
  decides with the verified `ConsentFacts` (categories = purpose ∩ consent scope, institution
  masks), and the fee is debited from the institution's prepaid ledger, all inside one
  SAVEPOINT: a refused consent, a denying decision or insufficient funds (402) rolls it back,
  so no use is counted and nothing is debited;
- exactly one query-log entry per attempt, allowed or denied, in the same transaction as the
  answer; it names the purpose, the consent jti (a well-formed one only), the subject's blind
  index and the fee. There is no `try/except` around an append;
- an unknown subject, a kid that is none of the subject's cards and a forged signature are all
  answered `not_found` with the same body (no hint whether the subject exists).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Subject
from app.services.billing.ledger import InsufficientFunds, LedgerService
from app.services.consent.consents import NOT_FOUND_REASONS, ConsentService
from app.services.consent.tokens import ConsentRefused
from app.services.querylog.log import QueryAttempt, QueryLog
from app.services.reports.assembly import ReportService
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.decision import Caller, Decision, Target
from policies.engine import PolicyEngine
from policies.identifiers import InvalidIdentifier, parse_citizen_id

ACTION = Action.INSTITUTION_REPORT_QUERY
_JTI = re.compile(r"[A-Za-z0-9_-]{16,128}")


def normalised_id_number(raw: str) -> str | None:
    """The ID number in its canonical form, or None if it fails its format or check character."""
    try:
        return parse_citizen_id(raw).value
    except InvalidIdentifier:
        return None


@dataclass(frozen=True)
class QueryRequest:
    """What the institution asked, after the web layer checked its shape."""

    client_id: str
    institution_id: Any
    caller: Caller
    id_number: str  # normalised; never logged
    purpose: str
    consent_token: str
    request_id: str
    client_address: str


@dataclass(frozen=True)
class QueryOutcome:
    """`report` when allowed; otherwise `refused` (a consent reason code, `insufficient_funds`)
    or a denying `decision` for the web layer to turn into its refusal."""

    report: dict[str, Any] | None = None
    refused: str | None = None
    decision: Decision | None = None
    attempt: QueryAttempt | None = None

    @property
    def not_found(self) -> bool:
        return self.refused in NOT_FOUND_REASONS


def peek_jti(token: str) -> str | None:
    """The token's *unverified* jti if it is well-formed (for the log only), else None."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if isinstance(jti, str) and _JTI.fullmatch(jti) else None


class InstitutionQueries:
    def __init__(
        self,
        provider: KeyProvider,
        engine: PolicyEngine,
        consents: ConsentService,
        reports: ReportService,
        ledger: LedgerService,
        query_log: QueryLog,
    ) -> None:
        self.provider = provider
        self.engine = engine
        self.consents = consents
        self.reports = reports
        self.ledger = ledger
        self.query_log = query_log

    def attempt_for(self, request: QueryRequest, bidx: bytes | None) -> QueryAttempt:
        """The log entry of this attempt, as `failed` (the caller fills in the outcome)."""
        return QueryAttempt(
            action=ACTION.value,
            decision="failed",
            reason="failed",
            actor_kind="institution",
            actor_ref=request.client_id,
            request_id=request.request_id,
            client_address=request.client_address,
            subject_bidx=bidx,
            purpose=request.purpose,
            consent_jti=peek_jti(request.consent_token),
        )

    def refuse_input(
        self,
        db: Session,
        *,
        client_id: str,
        request_id: str,
        client_address: str,
        reason: str,
        purpose: str | None,
    ) -> QueryAttempt:
        """Log a denied attempt whose body was refused before anything was looked up (no
        subject, no consent; a purpose only if it is one of the closed list)."""
        denied = QueryAttempt(
            action=ACTION.value,
            decision="denied",
            reason=reason,
            actor_kind="institution",
            actor_ref=client_id,
            request_id=request_id,
            client_address=client_address,
            purpose=purpose,
        )
        self.query_log.append(db, denied)
        return denied

    def subject_index(self, request: QueryRequest) -> bytes:
        """The subject's blind index: the one HSM call of the query."""
        return blind_index(self.provider, BlindIndexKind.CITIZEN_ID, request.id_number)

    def run(
        self, db: Session, request: QueryRequest, bidx: bytes, *, now: datetime
    ) -> QueryOutcome:
        base = self.attempt_for(request, bidx)
        subject = db.scalars(select(Subject).where(Subject.id_bidx == bidx)).one_or_none()
        unit = db.begin_nested()
        try:
            consent = self.consents.verify_and_use(
                db,
                request.consent_token,
                institution_client_id=request.client_id,
                subject=subject,
                purpose=request.purpose,
                now=now,
            )
        except ConsentRefused as refused:
            unit.rollback()
            return self._denied(db, base, refused.reason, refused=refused.reason)
        base = replace(base, consent_jti=consent.jti)
        target = Target(relation="other", purpose=request.purpose, consent=consent.facts)
        decision = self.engine.decide(request.caller, ACTION, target, on=now.date())
        if not decision.allowed or decision.obligations is None:
            unit.rollback()
            return self._denied(db, base, decision.reason, decision=decision)
        fee = decision.obligations.fee.amount_fen
        try:
            if fee > 0:
                self.ledger.debit(
                    db,
                    institution_id=request.institution_id,
                    amount_fen=fee,
                    reference=f"consent:{consent.jti}:{request.request_id}"[:128],
                )
        except InsufficientFunds:
            unit.rollback()
            return self._denied(
                db, base, "insufficient_funds", refused="insufficient_funds", decision=decision
            )
        unit.commit()
        report = self.reports.assemble(
            db, subject=subject, decision=decision, kind="institution", on=now.date(), fee_fen=fee
        )
        allowed = replace(
            base,
            decision="allowed",
            reason=decision.reason,
            rule_ids=decision.rule_ids,
            fields_released=self.reports.released_fields(report),
            fee_fen=fee,
        )
        self.query_log.append(db, allowed)
        return QueryOutcome(report=report, decision=decision, attempt=allowed)

    def _denied(
        self,
        db: Session,
        base: QueryAttempt,
        reason: str,
        *,
        refused: str | None = None,
        decision: Decision | None = None,
    ) -> QueryOutcome:
        denied = replace(
            base,
            decision="denied",
            reason=reason,
            rule_ids=() if decision is None else decision.rule_ids,
        )
        self.query_log.append(db, denied)
        return QueryOutcome(refused=refused, decision=decision, attempt=denied)
