"""Payment-provider notifications: HMAC-signed, fresh, never accepted twice.

The provider sends `POST /api/v1/billing/payment-notifications` with the JSON body
`{notification_id, order_id, amount_fen, payment_ref}` and two headers:
`X-CG-Timestamp: <unix seconds>` and `X-CG-Signature: v1=<hex HMAC-SHA256>` over
`timestamp + "." + raw body` under the shared key (`Settings.read_payment_notify_key`).

Guarantees:
- the signature is checked first, over the raw bytes as received, and compared in constant
  time; a missing, malformed or wrong signature, or a timestamp more than 300 s from now, is
  refused before the body is even parsed;
- a notification is accepted at most once: its `notification_id` is stored (primary key) in
  the same unit of work that settles the order, after the order row is locked, so a replay
  (sequential or concurrent) is refused and changes nothing;
- an amount that differs from the order's fee, or an order that is not pending, is refused
  and changes nothing; a refusal names its reason (`NotificationRefused.code`), never the key,
  the signature or the body;
- nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app import strict_json
from app.models.base import utcnow
from app.models.billing import Order, PaidVia, PaymentNotification
from app.services.billing.orders import OrderConflict, OrderInputError, OrderService

MAX_SKEW_SECONDS = 300
SIGNATURE_PREFIX = "v1="
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NOTIFICATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class NotificationRefused(Exception):
    """A notification that was not accepted; nothing changed. `status` is the HTTP status the
    web layer answers with, `code` a snake_case reason, `str()` a sentence safe to show."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class PaymentNotice:
    notification_id: str
    order_id: uuid.UUID
    amount_fen: int
    payment_ref: str


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The `X-CG-Signature` header value for `body` sent at `timestamp` (provider side)."""
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(
    key: bytes, *, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> None:
    """Raise `NotificationRefused` (401) unless `signature` is the HMAC of `body` at a
    `timestamp` within ±300 s of `now`."""
    if not timestamp or not signature:
        raise NotificationRefused(401, "signature_missing", "The notification is not signed.")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise NotificationRefused(401, "bad_timestamp", "X-CG-Timestamp must be unix seconds.")
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise NotificationRefused(
            401, "stale_timestamp", "The notification timestamp is more than 300 s from now."
        )
    sent = signature.strip()
    if not sent.startswith(SIGNATURE_PREFIX) or not _HEX64.fullmatch(sent[3:]):
        raise NotificationRefused(401, "bad_signature", "The notification signature is invalid.")
    expected = sign(key, timestamp, body)
    if not hmac.compare_digest(sent.encode("ascii"), expected.encode("ascii")):
        raise NotificationRefused(401, "bad_signature", "The notification signature is invalid.")


def parse_notice(body: bytes) -> PaymentNotice:
    """The notice in a (signed) body; `NotificationRefused` (400) if it is malformed."""

    def bad(message: str) -> NotificationRefused:
        return NotificationRefused(400, "bad_request", message)

    try:
        data = strict_json.loads(body)
    except strict_json.MalformedJson as malformed:
        raise bad(f"The body must be a JSON object. {malformed}") from None
    if not isinstance(data, dict):
        raise bad("The body must be a JSON object.")
    notification_id = data.get("notification_id")
    if not isinstance(notification_id, str) or not _NOTIFICATION_ID.fullmatch(notification_id):
        raise bad("notification_id must be 1 to 64 letters, digits or ._:-")
    try:
        order_id = uuid.UUID(str(data.get("order_id")))
    except ValueError:
        raise bad("order_id must be an order id.") from None
    amount = data.get("amount_fen")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise bad("amount_fen must be a positive whole number of fen.")
    payment_ref = data.get("payment_ref")
    if not isinstance(payment_ref, str) or not payment_ref.strip() or len(payment_ref) > 64:
        raise bad("payment_ref must be 1 to 64 characters.")
    return PaymentNotice(notification_id, order_id, amount, payment_ref)


class PaymentService:
    """Accepts verified notices inside the caller's unit of work (never commits)."""

    def __init__(self, orders: OrderService) -> None:
        self.orders = orders

    def accept(self, db: Session, notice: PaymentNotice, *, now: datetime | None = None) -> Order:
        moment = now if now is not None else utcnow()
        order = self.orders.locked(db, notice.order_id)
        if order is None:
            raise NotificationRefused(404, "order_not_found", "There is no such order.")
        if db.get(PaymentNotification, notice.notification_id) is not None:
            raise NotificationRefused(
                409, "notification_replayed", "This notification was already processed."
            )
        if notice.amount_fen != order.fee_fen:
            raise NotificationRefused(
                409, "amount_mismatch", "The amount paid does not match the order's fee."
            )
        if order.status != "pending":
            raise NotificationRefused(
                409, "order_not_pending", f"The order is {order.status}, not pending."
            )
        try:
            self.orders.mark_paid(
                db,
                order,
                payment_ref=notice.payment_ref,
                via=PaidVia.NOTIFICATION,
                confirmed_by=None,
                now=moment,
            )
        except OrderConflict as conflict:
            raise NotificationRefused(409, conflict.code, str(conflict)) from None
        except OrderInputError as bad:
            raise NotificationRefused(400, "bad_request", str(bad)) from None
        db.add(
            PaymentNotification(
                notification_id=notice.notification_id,
                order_id=order.id,
                amount_fen=notice.amount_fen,
                received_at=moment,
            )
        )
        db.flush()
        return order
