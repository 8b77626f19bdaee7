"""The own credit report (`self:report:read`): a subject about themselves.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a subject logged in with password and card, asking about the subject their account is
  linked to, gets anything; every attempt writes exactly one entry;
- two own reports a calendar year (the city's calendar) are free, counted atomically; from the
  third the answer is 402 naming the account's open fee order (one per account, reused, never
  a new one per request); a request naming a paid, unused self-report order of the account
  gets the report and uses the order up in the same unit;
- an order that is not the caller's, unknown, unpaid, refunded or used answers 404 (someone
  else's order looks like no order), or 402 naming it when it is the caller's own and unpaid;
- the report is read and opened in one snapshot (no write lock held), masked outside any unit,
  and released only by the writing unit that takes the charge and commits the entry; if that
  unit fails, nothing read is sent. What the answer shows is the committed state at the
  snapshot's start, as one REPEATABLE READ transaction would show it;
- the report carries the subject's `grade`: the one that counts, its score and every factor
  that moved it (null when none counts), read with the subject in the same statement;
- asked for as PDF, the answer is the signed PDF of exactly the document the JSON would be,
  recorded for verification in the same writing unit, under the same decision, charge and
  entry (released fields identical); it is rendered and signed before that unit, at the fee
  the unit is expected to charge, and made again inside it if the charge differs. No
  certificate, font or HSM: 503, nothing charged or sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.services.billing.allowances import AllowanceService
from app.services.billing.orders import OrderService, TooManyOpenOrders
from app.services.grades.views import report_grade
from app.services.outcomes import (
    Answer,
    Answered,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    payment_required,
    refusal_for,
    too_many_open_orders,
)
from app.services.querylog.attempt import (
    Asker,
    Body,
    LoggedQuery,
    Parts,
    run_logged,
)
from app.services.querylog.records import QueryRecord, entries_about
from app.services.reports.assembly import (
    OpenedReport,
    ReportService,
    ShapedReport,
    query_records_since,
    subject_by_id,
)
from app.services.reports.pdf import RENDERINGS, PdfReports, SignedReport, pdf_reports
from app.services.reports.pdf import Parts as PdfParts
from app.services.reports.pdf.certificates import SigningChain, signing_chain
from crypto.fields import FieldCipher
from policies.actions import Action
from policies.catalog import Catalog
from policies.decision import Target
from policies.scorecard import default_scorecard

#: The report shows the newest query records; all of them page through the query records.
REPORT_QUERY_RECORDS = 100


class ReportParts(Parts, PdfParts, Protocol):
    """What the own report needs beyond a logged query: the cipher and the catalog, and for
    its PDF the HSM and the settings."""

    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...


@dataclass(frozen=True)
class _Input:
    """What the body asks: a paid order to redeem, none, or why it is refused."""

    order_id: uuid.UUID | None = None
    refused: Refused | None = None
    reason: str = ""
    pdf: bool = False


def _asked(body: Body, rendering: str) -> _Input:
    if rendering not in RENDERINGS:
        return _Input(refused=bad_input("format is json or pdf."), reason="bad_request")
    if body.problem is not None:
        return _Input(refused=body_refusal(body.problem, body.why), reason=body.problem)
    sent = {} if body.value is None else body.value
    if not isinstance(sent, dict) or set(sent) - {"order_id"}:
        return _Input(refused=bad_input('Send {} or {"order_id": "<id>"}.'), reason="bad_request")
    pdf = rendering == "pdf"
    if "order_id" not in sent:
        return _Input(pdf=pdf)
    try:
        return _Input(order_id=uuid.UUID(str(sent["order_id"])), pdf=pdf)
    except ValueError:
        return _Input(refused=bad_input("order_id must be an order id."), reason="bad_request")


class OwnReports:
    def __init__(self, parts: ReportParts) -> None:
        self.parts = parts
        self.reports = ReportService(
            parts.cipher, parts.catalog, policy_version=parts.policy.version
        )
        self.orders = OrderService.of(parts.policy)

    def read(self, asker: Asker, body: Body, rendering: str = "json") -> Answer:
        """The own report, or why not (see the module's guarantees); `rendering` "pdf" asks
        for it as a signed PDF (`Answered.attachment`) of the same document."""
        asked = _asked(body, rendering)
        return run_logged(
            self.parts, Action.SELF_REPORT_READ, asker, lambda q: self._read(q, asked)
        )

    def _read(self, q: LoggedQuery, asked: _Input) -> Answer:
        records: list[QueryRecord] = []
        opened: OpenedReport | None = None
        chain: SigningChain | None = None
        with q.snapshot() as db:
            subject = subject_by_id(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if decision.allowed and subject is not None and asked.refused is None:
                records = entries_about(
                    db,
                    subject.id_bidx,
                    since=query_records_since(q.on),
                    viewer_ref=q.asker.actor_ref,
                    limit=REPORT_QUERY_RECORDS,
                )
                opened = self.reports.open(db, subject=subject, decision=decision, on=q.on)
                chain = signing_chain(db, now=q.at) if asked.pdf else None
        shaped = None if opened is None else self.reports.shape(opened, decision=decision)
        grade = None
        if subject is not None:
            grade = report_grade(default_scorecard(self.parts.catalog), subject.counted_grade)
        ahead = self._pdf_ahead(q, asked, shaped, records, chain, grade)
        with q.unit() as db:
            if shaped is None or decision.obligations is None:
                if asked.refused is not None and decision.allowed:
                    q.deny(db, asked.reason)
                    return asked.refused
                q.deny(db)
                return refusal_for(decision)
            charged = self._charge(q, db, asked.order_id, decision.obligations.fee.amount_fen)
            if isinstance(charged, Refused):
                return charged
            signed: SignedReport | None
            if ahead is not None and ahead[0]["report"]["fee_fen"] == charged:
                document, signed = ahead  # rendered and signed before the unit, as charged
                PdfReports.record(db.connection(), signed)
            else:
                document = self.reports.document(
                    shaped,
                    decision=decision,
                    kind="self",
                    on=q.on,
                    query_records=records,
                    fee_fen=charged,
                    grade=grade,
                )
                signed = (
                    pdf_reports(self.parts).issue(db.connection(), document, at=q.at)
                    if asked.pdf
                    else None
                )
            q.allow(db, released=shaped.released, fee_fen=charged)
        return Answered(document, attachment=None if signed is None else signed.attachment())

    def _pdf_ahead(
        self,
        q: LoggedQuery,
        asked: _Input,
        shaped: ShapedReport | None,
        records: list[QueryRecord],
        chain: SigningChain | None,
        grade: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], SignedReport] | None:
        """For a PDF: the document at the fee the writing unit is expected to charge (none for
        a free report, the report fee for a paid order), rendered and signed before that
        unit, so that no write lock is held while the CPU works; nothing of it leaves unless
        the unit charges exactly that fee and commits the entry (otherwise the unit renders
        again or refuses)."""
        decision = q.decision
        if not asked.pdf or shaped is None or chain is None or decision is None:
            return None
        if decision.obligations is None:
            return None
        fee = 0 if asked.order_id is None else decision.obligations.fee.amount_fen
        document = self.reports.document(
            shaped,
            decision=decision,
            kind="self",
            on=q.on,
            query_records=records,
            fee_fen=fee,
            grade=grade,
        )
        return document, pdf_reports(self.parts).make(document, chain=chain, issued_at=q.at)

    def _charge(
        self, q: LoggedQuery, db: Session, order_id: uuid.UUID | None, fee_fen: int
    ) -> int | Refused:
        """The fee this report costs (0: a free one taken), or the refusal, logged."""
        account_id = q.asker.account_id
        assert account_id is not None  # a subject's session
        if order_id is not None:
            order = self.orders.redeem_self_report(
                db, order_id=order_id, account_id=account_id, now=q.at
            )
            if order is not None:
                return order.fee_fen
            own = self.orders.get_own(db, order_id, account_id)
            if own is not None and own.kind == "self_report" and own.status == "pending":
                q.deny(db, "order_not_paid")
                return payment_required(str(own.id))
            q.deny(db, "order_not_redeemable")
            return not_found()
        if AllowanceService().take_free_report(
            db,
            account_id=account_id,
            year=q.on.year,
            limit=self.parts.policy.free_self_reports_per_year,
        ):
            return 0
        assert q.subject_bidx is not None
        try:
            order, _ = self.orders.open_order(
                db,
                kind="self_report",
                account_id=account_id,
                subject_bidx=q.subject_bidx,
                fee_fen=fee_fen,
                now=q.at,
            )
        except TooManyOpenOrders:
            q.deny(db, "too_many_open_orders")
            return too_many_open_orders()
        q.deny(db, "payment_required")
        return payment_required(str(order.id))
