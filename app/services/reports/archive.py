"""The paid archive query: order a report about an ID number, download it once paid.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- the ID number is validated (`policies.identifiers`) and turned into its blind index with one
  HSM HMAC; it is never stored, logged or echoed — orders and entries hold only the index and
  a masked label (first 6 + last 4);
- an order about an ID number nobody holds is created, priced and answered exactly like one
  about a subject without archive records (nothing tells whether the subject exists), and the
  report names the subject only by that label;
- ordering again about the same number reuses the account's open order (200) instead of
  making another (201); an account holds at most `open_orders_per_account` unpaid orders (409)
  and an unpaid order is cancelled after `unpaid_order_hours`;
- every attempt (ordering and downloading, allowed or denied) writes exactly one entry; a
  download needs an allowing decision (subject with card, owner of the order), a paid order
  and `now < available_until`; someone else's order looks like no order (404), an unpaid one
  is 402 naming it, a refunded, cancelled or expired one 410;
- the first download marks the order redeemed: from then on it cannot be refunded;
- a report releases only what the engine's archive obligations allow (archive masks);
- asked for as PDF, the answer is the signed PDF of exactly the document the JSON would be,
  made and recorded for verification in the same writing unit as the download's entry.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy import select

from app.models.billing import OrderKind
from app.models.domain import Subject
from app.services.billing.orders import OrderService, ReportAccess, TooManyOpenOrders, order_view
from app.services.outcomes import (
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    payment_required,
    refusal_for,
    too_many_open_orders,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.reports.assembly import ReportService
from app.services.reports.pdf import RENDERINGS, pdf_reports
from app.services.reports.pdf import Parts as PdfParts
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.catalog import Catalog
from policies.decision import Target
from policies.identifiers import InvalidIdentifier, parse_citizen_id
from policies.masking import apply_mask

_ORDER_HINT = 'Send {"id_number": "<18-character citizen ID number>"}.'


class ArchiveParts(Parts, PdfParts, Protocol):
    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def key_provider(self) -> KeyProvider: ...


def gone() -> Refused:
    return Refused(
        RefusalKind.GONE,
        "gone",
        "This report is no longer available (refunded, expired or past its download period).",
    )


class ArchiveQueries:
    def __init__(self, parts: ArchiveParts) -> None:
        self.parts = parts
        self.reports = ReportService(
            parts.cipher, parts.catalog, policy_version=parts.policy.version
        )
        self.orders = OrderService.of(parts.policy)

    def order(self, asker: Asker, body: Body) -> Answer:
        """Order (or find the open order of) an archive report about the body's ID number."""
        return run_logged(
            self.parts, Action.ARCHIVE_ORDER_CREATE, asker, lambda q: self._order(q, body)
        )

    def report(self, asker: Asker, order_id: uuid.UUID, rendering: str = "json") -> Answer:
        """The report of a paid archive order of the asker's; `rendering` "pdf" asks for it
        as a signed PDF (`Answered.attachment`) of the same document."""
        return run_logged(
            self.parts,
            Action.ARCHIVE_REPORT_READ,
            asker,
            lambda q: self._report(q, order_id, rendering),
        )

    def _order(self, q: LoggedQuery, body: Body) -> Answer:
        number, refused = _id_number(body, q)
        label: str | None = None
        if number is not None:
            label = str(apply_mask("first6_last4", number, "id_number", hash_key=b""))
            q.subject_bidx = blind_index(self.parts.key_provider, BlindIndexKind.CITIZEN_ID, number)
        with q.unit() as db:
            if refused is not None:
                q.deny(db, refused[0])
                return refused[1]
            assert q.subject_bidx is not None
            decision = q.decide(Target(relation="own"))
            if not decision.allowed or decision.obligations is None:
                q.deny(db)
                return refusal_for(decision)
            account_id = q.asker.account_id
            assert account_id is not None  # the policy allows subjects' sessions only
            fee = decision.obligations.fee.amount_fen
            try:
                order, created = self.orders.open_order(
                    db,
                    kind=OrderKind.ARCHIVE_REPORT.value,
                    account_id=account_id,
                    subject_bidx=q.subject_bidx,
                    fee_fen=fee,
                    now=q.at,
                    subject_label=label,
                )
            except TooManyOpenOrders:
                q.deny(db, "too_many_open_orders")
                return too_many_open_orders()
            document = {"order": order_view(order)}
            q.allow(db, fee_fen=fee)
        return Answered(document, created=created)

    def _report(self, q: LoggedQuery, order_id: uuid.UUID, rendering: str) -> Answer:
        with q.unit() as db:
            if rendering not in RENDERINGS:
                q.deny(db, "bad_request")
                return bad_input("format is json or pdf.")
            order = self.orders.locked(db, order_id)
            mine = (
                order is not None
                and order.account_id == q.asker.account_id
                and order.kind == OrderKind.ARCHIVE_REPORT.value
            )
            decision = q.decide(Target(relation="own" if mine else "other"))
            if not decision.allowed or order is None or not mine:
                q.deny(db)
                return refusal_for(decision) if not decision.allowed else not_found()
            q.subject_bidx = order.subject_bidx
            access = self.orders.report_access(order, q.at)
            if access is ReportAccess.PAYMENT_REQUIRED:
                q.deny(db, access.value)
                return payment_required(str(order.id))
            if access is not ReportAccess.AVAILABLE:
                q.deny(db, access.value)
                return gone()
            subject = db.scalar(select(Subject).where(Subject.id_bidx == order.subject_bidx))
            named_as = {} if order.subject_label is None else {"id_number": order.subject_label}
            opened = self.reports.open(
                db.connection(), subject=subject, decision=decision, on=q.on, named_as=named_as
            )
            shaped = self.reports.shape(opened, decision=decision)
            document = self.reports.document(
                shaped, decision=decision, kind="archive", on=q.on, fee_fen=order.fee_fen
            )
            signed = (
                pdf_reports(self.parts).issue(db.connection(), document, at=q.at)
                if rendering == "pdf"
                else None
            )
            self.orders.mark_downloaded(order, q.at)
            q.allow(db, released=shaped.released, fee_fen=order.fee_fen)
        return Answered(document, attachment=None if signed is None else signed.attachment())


def _id_number(body: Body, q: LoggedQuery) -> tuple[str | None, tuple[str, Refused] | None]:
    """The body's valid ID number, or the reason and refusal of a body that does not hold one
    (the number itself is never part of either)."""
    if body.problem is not None:
        return None, (body.problem, body_refusal(body.problem, body.why))
    sent = body.value
    number = (
        sent.get("id_number") if isinstance(sent, dict) and set(sent) == {"id_number"} else None
    )
    if not isinstance(number, str) or not number or len(number) > 32:
        return None, ("malformed_body", bad_input(_ORDER_HINT))
    try:
        return parse_citizen_id(number).value, None
    except InvalidIdentifier as invalid:
        return None, ("invalid_id_number", bad_input(f"The ID number is not valid: {invalid}."))
