"""The cashier's desk and the institutions' ledgers: confirm or refund an archive order, top
up an institution's prepaid ledger, read a ledger.

Guarantees: the policy engine decides first (a cashier is staff with the `cashier` role in a
password+TOTP session; an institution reads only its own ledger with its bearer token), and
nothing is read before it allows; every change runs in one unit of work, so it is all written
or none of it; a retried confirmation or refund with the same input answers the same order
unchanged; a refusal names the field or rule, never a payment reference of another order.
Who watches the watchers (ARCHITECTURE §7): every confirmation, refund and top-up a cashier
attempts is one query-log entry (`billing:order:confirm|refund`, `billing:ledger:topup`),
allowed, denied or failed, through the one shape of a logged query; an order's entry names its
subject by blind index, so a cashier acting on their own or their household's order is found
by the review rules and by officers searching the subject. A refused change is a denied entry
and changes nothing else. Reading a ledger writes no entry (it moves nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Order
from app.services.billing.ledger import LedgerError, LedgerService, entry_view, institution_id_for
from app.services.billing.orders import OrderConflict, OrderInputError, OrderService, order_view
from app.services.outcomes import (
    TOO_LARGE,
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from policies.actions import Action
from policies.decision import Decision, Target

NO_ORDER = "There is no such order."
#: The reason an allowed entry of each change names.
_DONE = {Action.BILLING_ORDER_CONFIRM: "payment_confirmed", Action.BILLING_ORDER_REFUND: "refunded",
         Action.BILLING_LEDGER_TOPUP: "topped_up"}  # fmt: skip
NO_INSTITUTION = "There is no such institution."
#: A cashier's change to one order: (unit, the body's text, the cashier's account) -> order.
OrderChange = Callable[[Session, str, uuid.UUID], Any]


class Cashier:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.orders = OrderService.of(parts.policy)
        self.ledger = LedgerService()

    def confirm(self, asker: Asker, order_id: uuid.UUID, body: Body) -> Answer:
        """Mark an order paid against the receipt or transfer reference the cashier saw."""
        now = self.parts.clock.now()
        return self._change_order(
            asker,
            Action.BILLING_ORDER_CONFIRM,
            body,
            "payment_ref",
            'Send {"payment_ref": "<the receipt or transfer reference>"}.',
            lambda db, text, cashier_id: self.orders.confirm(
                db, order_id=order_id, payment_ref=text, cashier_id=cashier_id, now=now
            ),
            order_id,
        )

    def refund(self, asker: Asker, order_id: uuid.UUID, body: Body) -> Answer:
        """Refund a paid order whose report was never downloaded, with the reason."""
        now = self.parts.clock.now()
        return self._change_order(
            asker,
            Action.BILLING_ORDER_REFUND,
            body,
            "reason",
            'Send {"reason": "<why the payment is refunded>"}.',
            lambda db, text, cashier_id: self.orders.refund(
                db, order_id=order_id, reason=text, cashier_id=cashier_id, now=now
            ),
            order_id,
        )

    def top_up(self, asker: Asker, client_id: str, body: Body) -> Answer:
        """Credit an institution's prepaid ledger with a received payment."""
        return run_logged(
            self.parts,
            Action.BILLING_LEDGER_TOPUP,
            asker,
            lambda q: self._top_up(q, client_id, body),
        )

    def _top_up(self, q: LoggedQuery, client_id: str, body: Body) -> Answer:
        decision = q.decide(Target())
        sent = body.value if isinstance(body.value, dict) else None
        try:
            with q.unit() as db:
                if not decision.allowed or q.asker.account_id is None:
                    q.deny(db)
                    return refusal_for(decision)
                if body.problem == TOO_LARGE:
                    q.deny(db, body.problem)
                    return body_refusal(body.problem)
                if sent is None or not isinstance(sent.get("reference"), str):
                    q.deny(db, "bad_request")
                    return bad_input(
                        body.why
                        or 'Send {"amount_fen": <positive integer>, "reference": "<receipt>"}.'
                    )
                institution_id = institution_id_for(db, client_id)
                if institution_id is None:
                    q.deny(db, "not_found")
                    return not_found(NO_INSTITUTION)
                entry = self.ledger.top_up(
                    db,
                    institution_id=institution_id,
                    amount_fen=sent.get("amount_fen"),  # type: ignore[arg-type]  # checked inside
                    reference=sent["reference"],
                    created_by=str(q.asker.account_id),
                )
                view = entry_view(entry)
                q.allow(db, reason="topped_up")
        except LedgerError as bad:
            with q.unit() as db:
                q.deny(db, "bad_request")
            return bad_input(str(bad))
        return Answered({"entry": view, "balance_fen": view["balance_after"]}, created=True)

    def ledger_of(self, asker: Asker, client_id: str) -> Answer:
        """Any institution's ledger, for the cashier."""
        decision = self._decide(asker, Action.BILLING_LEDGER_READ)
        if not decision.allowed:
            return refusal_for(decision)
        with self.parts.unit() as db:
            institution_id = institution_id_for(db, client_id)
            if institution_id is None:
                return not_found(NO_INSTITUTION)
            return Answered(self._ledger(db, client_id, institution_id))

    def own_ledger(self, asker: Asker) -> Answer:
        """The calling institution's own ledger (`asker` from its verified bearer token)."""
        decision = self._decide(asker, Action.INSTITUTION_LEDGER_READ)
        if not decision.allowed or asker.institution_id is None:
            return refusal_for(decision)
        with self.parts.unit() as db:
            return Answered(self._ledger(db, asker.actor_ref, asker.institution_id))

    def _ledger(self, db: Session, client_id: str, institution_id: uuid.UUID) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "balance_fen": self.ledger.balance(db, institution_id),
            "entries": [entry_view(entry) for entry in self.ledger.entries(db, institution_id)],
        }

    def _change_order(
        self,
        asker: Asker,
        action: Action,
        body: Body,
        field: str,
        hint: str,
        change: OrderChange,
        order_id: uuid.UUID,
    ) -> Answer:
        return run_logged(
            self.parts,
            action,
            asker,
            lambda q: self._changed(q, body, field, hint, change, order_id),
        )

    def _changed(
        self,
        q: LoggedQuery,
        body: Body,
        field: str,
        hint: str,
        change: OrderChange,
        order_id: uuid.UUID,
    ) -> Answer:
        decision = q.decide(Target())
        sent = body.value if isinstance(body.value, dict) else None
        try:
            with q.unit() as db:
                if not decision.allowed or q.asker.account_id is None:
                    q.deny(db)
                    return refusal_for(decision)
                if body.problem == TOO_LARGE:
                    q.deny(db, body.problem)
                    return body_refusal(body.problem)
                if sent is None or not isinstance(sent.get(field), str):
                    q.deny(db, "bad_request")
                    return bad_input(body.why or hint)
                bidx = db.scalar(select(Order.subject_bidx).where(Order.id == order_id))
                q.subject_bidx = None if bidx is None else bytes(bidx)
                order = None if bidx is None else change(db, sent[field], q.asker.account_id)
                if order is None:
                    q.deny(db, "not_found")
                    return not_found(NO_ORDER)
                view = order_view(order)
                q.allow(db, reason=_DONE[q.action])
        except OrderInputError as bad:
            with q.unit() as db:
                q.deny(db, "bad_request")
            return bad_input(str(bad))
        except OrderConflict as conflict:
            with q.unit() as db:
                q.deny(db, conflict.code)
            return Refused(RefusalKind.CONFLICT, conflict.code, str(conflict))
        return Answered({"order": view})

    def _decide(self, asker: Asker, action: Action) -> Decision:
        return self.parts.policy.decide(asker.caller, action, on=self.parts.clock.today())
