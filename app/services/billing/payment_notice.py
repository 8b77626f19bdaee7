"""A payment provider's notification that an order was paid (`billing:payment:notify`).

Guarantees:
- the signature is checked first, over the raw bytes as received (`payments.verify_signature`);
  a notification refused before it verified is not an authenticated query: it is counted per
  day and reason (`refused_notifications`), never chained into the query log, and answered
  401 with its reason code;
- from a verified signature on it is a logged query (the shape of
  `app.services.querylog.attempt`): exactly one entry, allowed in the unit that marks the
  order paid, or denied with the refusal's reason code (malformed body, unknown order, replay,
  wrong amount, order not pending or expired), nothing changed;
- neither the key, the signature nor the body reach a log line or an answer.
"""

from __future__ import annotations

import logging
from typing import cast

from sqlalchemy import Table

from app.models.billing import RefusedNotification
from app.services.billing.orders import OrderService, order_view
from app.services.billing.payments import (
    NotificationRefused,
    PaymentService,
    parse_notice,
    verify_signature,
)
from app.services.counters import count_one
from app.services.outcomes import Answer, Answered, RefusalKind, Refused, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, Parts, run_logged
from policies.actions import Action
from policies.decision import Target

log = logging.getLogger("creditgate.billing")
_STATUS_KINDS = {
    400: RefusalKind.BAD_INPUT,
    401: RefusalKind.UNAUTHENTICATED,
    404: RefusalKind.NOT_FOUND,
    409: RefusalKind.CONFLICT,
}
_COUNTED = cast(Table, RefusedNotification.__table__)


def _refusal(refused: NotificationRefused) -> Refused:
    return Refused(_STATUS_KINDS[refused.status], refused.code, str(refused))


class PaymentNotices:
    def __init__(self, parts: Parts, notify_key: bytes) -> None:
        self.parts = parts
        self.key = notify_key
        self.payments = PaymentService(OrderService.of(parts.policy))

    def receive(
        self, asker: Asker, *, body: bytes, timestamp: str | None, signature: str | None
    ) -> Answer:
        now = self.parts.clock.now()
        try:
            verify_signature(self.key, timestamp=timestamp, signature=signature, body=body, now=now)
        except NotificationRefused as refused:
            log.warning("payment notification refused: %s", refused.code)
            self._count(refused.code)
            return _refusal(refused)
        return run_logged(
            self.parts, Action.BILLING_PAYMENT_NOTIFY, asker, lambda q: self._accept(q, body)
        )

    def _accept(self, q: LoggedQuery, body: bytes) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            savepoint = db.begin_nested()
            try:
                order = self.payments.accept(db, parse_notice(body), now=q.at)
            except NotificationRefused as refused:
                savepoint.rollback()
                q.deny(db, refused.code)
                return _refusal(refused)
            savepoint.commit()
            document = {"order": order_view(order)}
            q.allow(db, fee_fen=order.fee_fen)
        return Answered(document)

    def _count(self, reason: str) -> None:
        """One more refusal of `reason` today, in a unit of its own."""
        with self.parts.unit() as db:
            key = {"day": self.parts.clock.today(), "reason": reason[:32]}
            count_one(db.connection(), _COUNTED, key, "refused")
