"""The paid archive query (issue 4 item 3): order a report on a subject, download it once paid.

Guarantees:
- the ID number is validated (`policies.identifiers`) and turned into its blind index with one
  HSM HMAC; it is never stored, logged or echoed — orders and log entries hold only the index;
- an order for an ID number with no subject is created, priced and answered exactly like one
  for a subject without archive records (nothing tells whether the subject exists);
- every attempt (ordering and downloading, allowed or denied) writes one query-log entry in the
  caller's unit of work; a denied attempt releases nothing; the report is returned only with
  its entry in the same transaction (the web layer answers after the commit);
- a download needs an allowing engine decision (subject with card, owner of the order), a paid
  order and `now < available_until`; someone else's order looks like no order (not found);
  a report releases only what the engine's archive obligations allow (archive masks).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.billing import Order, OrderKind
from app.models.domain import Subject
from app.services.billing.orders import OrderService, ReportAccess
from app.services.querylog.log import QueryAttempt, QueryLog
from app.services.reports.assembly import ReportService
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.decision import Caller, Decision, Target
from policies.engine import PolicyEngine
from policies.identifiers import InvalidIdentifier, parse_citizen_id
from policies.masking import apply_mask

__all__ = ["ArchiveOutcome", "ArchiveService", "InvalidIdentifier", "Requester"]


@dataclass(frozen=True)
class Requester:
    """Who asks and from where, for decisions and log entries."""

    caller: Caller
    account_id: uuid.UUID
    request_id: str
    client_address: str


@dataclass(frozen=True)
class ArchiveOutcome:
    """What happened: `decision` (refusing ones map to 401/403/404), or `access` for an
    allowed decision on an order that is not (or no longer) downloadable, or the `report`."""

    decision: Decision
    order: Order | None = None
    access: ReportAccess | None = None
    report: dict[str, Any] | None = None


class ArchiveService:
    def __init__(
        self,
        *,
        policy: PolicyEngine,
        query_log: QueryLog,
        provider: KeyProvider,
        reports: ReportService,
    ) -> None:
        self.policy = policy
        self.query_log = query_log
        self.provider = provider
        self.reports = reports
        self.orders = OrderService(download_days=policy.archive_download_days)

    def subject_index(self, id_number: str, *, today: date) -> tuple[bytes, str]:
        """The blind index of a valid citizen ID number and its masked label (first 6 + last
        4); `InvalidIdentifier` otherwise."""
        normalised = parse_citizen_id(id_number, today=today).value
        label = str(apply_mask("first6_last4", normalised, "id_number", hash_key=b""))
        return blind_index(self.provider, BlindIndexKind.CITIZEN_ID, normalised), label

    def place_order(
        self,
        db: Session,
        who: Requester,
        *,
        subject_bidx: bytes,
        on: date,
        subject_label: str | None = None,
    ) -> ArchiveOutcome:
        action = Action.ARCHIVE_ORDER_CREATE
        decision = self.policy.decide(who.caller, action, Target(relation="own"), on=on)
        if not decision.allowed or decision.obligations is None:
            self._log(db, who, decision, "denied", subject_bidx=subject_bidx)
            return ArchiveOutcome(decision)
        fee = decision.obligations.fee.amount_fen
        order = self.orders.create(
            db,
            kind=OrderKind.ARCHIVE_REPORT.value,
            account_id=who.account_id,
            subject_bidx=subject_bidx,
            fee_fen=fee,
        )
        order.subject_label = subject_label
        self._log(db, who, decision, "allowed", subject_bidx=subject_bidx, fee_fen=fee)
        return ArchiveOutcome(decision, order=order)

    def download(
        self, db: Session, who: Requester, *, order_id: uuid.UUID, now: datetime
    ) -> ArchiveOutcome:
        on = now.date()
        order = db.get(Order, order_id)
        mine = (
            order is not None
            and order.account_id == who.account_id
            and order.kind == OrderKind.ARCHIVE_REPORT.value
        )
        target = Target(relation="own" if mine else "other")
        decision = self.policy.decide(who.caller, Action.ARCHIVE_REPORT_READ, target, on=on)
        if not decision.allowed or order is None or not mine:
            self._log(db, who, decision, "denied")
            return ArchiveOutcome(decision)
        access = self.orders.report_access(order, now)
        if access is not ReportAccess.AVAILABLE:
            self._log(
                db, who, decision, "denied", subject_bidx=order.subject_bidx, reason=access.value
            )
            return ArchiveOutcome(decision, order=order, access=access)
        subject = db.scalar(select(Subject).where(Subject.id_bidx == order.subject_bidx))
        report = self.reports.assemble(
            db, subject=subject, decision=decision, kind="archive", on=on, fee_fen=order.fee_fen
        )
        # The archive extract names the subject only as the buyer did (masked): it must read
        # the same whether or not the subject exists, so the name is never shown here.
        report["subject"] = (
            {} if order.subject_label is None else {"id_number": order.subject_label}
        )
        self._log(
            db,
            who,
            decision,
            "allowed",
            subject_bidx=order.subject_bidx,
            fee_fen=order.fee_fen,
            fields=self.reports.released_fields(report),
        )
        return ArchiveOutcome(decision, order=order, access=access, report=report)

    def failure_attempt(self, who: Requester, action: Action) -> QueryAttempt:
        """The entry `record_failure` writes when a unit of work failed half-way."""
        return self._attempt(who, action, "failed", "service_failure")

    def refuse_input(self, db: Session, who: Requester, action: Action, reason: str) -> None:
        """Log a denied attempt whose input was refused before any decision (a malformed body,
        an ID number that fails its check); nothing about the input is written."""
        self.query_log.append(db, self._attempt(who, action, "denied", reason))

    def _attempt(self, who: Requester, action: Action, outcome: str, reason: str) -> QueryAttempt:
        return QueryAttempt(
            action=action.value,
            decision=outcome,
            reason=reason,
            actor_kind=who.caller.kind,
            actor_ref=str(who.account_id),
            request_id=who.request_id,
            client_address=who.client_address,
        )

    def _log(
        self,
        db: Session,
        who: Requester,
        decision: Decision,
        outcome: str,
        *,
        subject_bidx: bytes | None = None,
        fee_fen: int = 0,
        fields: list[str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.query_log.append(
            db,
            QueryAttempt(
                action=decision.action.value,
                decision=outcome,
                reason=reason or decision.reason,
                actor_kind=who.caller.kind,
                actor_ref=str(who.account_id),
                request_id=who.request_id,
                client_address=who.client_address,
                subject_bidx=subject_bidx,
                rule_ids=decision.rule_ids,
                fields_released=fields or (),
                fee_fen=fee_fen,
            ),
        )
