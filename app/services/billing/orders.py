"""Orders for paid reports: self reports beyond the free allowance and archive reports.

Guarantees:
- an order names its subject only by the 32-byte blind index, never the ID number;
- every state change locks the order row first (`FOR UPDATE`; SQLite units of work hold the
  write lock from BEGIN IMMEDIATE), so two cashiers, a cashier and a notification, or two
  retries cannot both settle, refund or redeem it;
- state changes a caller may retry are idempotent: confirming an order already paid with the
  same payment reference, or refunding one already refunded, returns it unchanged; anything
  else that does not fit the order's state raises `OrderConflict` and changes nothing;
- an archive report may be downloaded from payment until `available_until` (paid_at +
  `archive_download_days`), never before payment, never after a refund;
- a self-report order is redeemed once (`redeem_self_report`, atomic); an archive order is
  marked redeemed at its first download, after which it can no longer be refunded;
- a request that needs payment gets the open (unpaid) order of the same account, kind and
  subject if there is one (`open_order`, under a lock of the account's row), never a second
  one (a partial unique index holds it too); an account holds at most
  `open_orders_per_account` open orders (`TooManyOpenOrders`);
  an unpaid order is cancelled once its `expires_at` has passed, and can then no longer be
  paid (`order_expired`);
- time is injected (`now`) so the windows are testable without waiting;
- nothing here logs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models.accounts import Account
from app.models.base import as_utc, utcnow
from app.models.billing import Order, OrderKind, OrderStatus, PaidVia

DEFAULT_DOWNLOAD_DAYS = 7
DEFAULT_UNPAID_HOURS = 24
DEFAULT_OPEN_PER_ACCOUNT = 5
MAX_PAYMENT_REF = 64
MAX_REASON = 200


class OrderConflict(Exception):
    """The order's state does not allow this change; nothing was changed. `code` is a short
    snake_case reason, `str()` a sentence safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OrderInputError(ValueError):
    """A malformed payment reference or refund reason; nothing was changed."""


class TooManyOpenOrders(Exception):
    """The account holds as many unpaid orders as it may; nothing was created."""


class ReportAccess(StrEnum):
    """Whether an archive order's report may be downloaded now."""

    AVAILABLE = "available"
    PAYMENT_REQUIRED = "payment_required"  # pending
    GONE = "gone"  # refunded, cancelled, or past available_until


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or not value.isprintable():
        raise OrderInputError(f"{name} must be 1 to {limit} printable characters")
    return value


def order_view(order: Order) -> dict[str, object]:
    """What the order's owner and a cashier may see (no blind index, no staff ids)."""

    def when(moment: datetime | None) -> str | None:
        return as_utc(moment).isoformat() if moment is not None else None

    return {
        "id": str(order.id),
        "kind": order.kind,
        "status": order.status,
        "fee_fen": order.fee_fen,
        "created_at": when(order.created_at),
        "expires_at": when(order.expires_at) if order.status == OrderStatus.PENDING else None,
        "paid_at": when(order.paid_at),
        "paid_via": order.paid_via,
        "available_until": when(order.available_until),
        "redeemed_at": when(order.redeemed_at),
        "refunded_at": when(order.refunded_at),
    }


class OrderService:
    """Creates and moves orders inside the caller's unit of work (never commits)."""

    def __init__(
        self,
        download_days: int = DEFAULT_DOWNLOAD_DAYS,
        *,
        unpaid_hours: int = DEFAULT_UNPAID_HOURS,
        open_per_account: int = DEFAULT_OPEN_PER_ACCOUNT,
    ) -> None:
        self.download_days = download_days
        self.unpaid_hours = unpaid_hours
        self.open_per_account = open_per_account

    @classmethod
    def of(cls, policy: Any) -> OrderService:
        """The order rules of the access policy (`policies.engine.PolicyEngine`)."""
        return cls(
            policy.archive_download_days,
            unpaid_hours=policy.unpaid_order_hours,
            open_per_account=policy.open_orders_per_account,
        )

    def open_order(
        self,
        db: Session,
        *,
        kind: str,
        account_id: uuid.UUID,
        subject_bidx: bytes,
        fee_fen: int,
        now: datetime,
        subject_label: str | None = None,
    ) -> tuple[Order, bool]:
        """The account's open order of `kind` about `subject_bidx` and False, or a new one and
        True (its unpaid orders past `expires_at` are cancelled first). `TooManyOpenOrders`
        when the account already holds `open_per_account` open orders about other subjects."""
        # one account's orders are opened one at a time: two requests racing for the same
        # subject find the one order, and the cap is counted under the lock
        db.execute(select(Account.id).where(Account.id == account_id).with_for_update())
        self.cancel_expired(db, account_id=account_id, now=now)
        same = (
            Order.account_id == account_id,
            Order.kind == OrderKind(kind).value,
            Order.subject_bidx == subject_bidx,
            Order.status == OrderStatus.PENDING.value,
        )
        found = db.scalars(select(Order).where(*same)).one_or_none()
        if found is not None:
            return found, False
        open_count = db.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.account_id == account_id, Order.status == OrderStatus.PENDING.value)
        )
        if (open_count or 0) >= self.open_per_account:
            raise TooManyOpenOrders
        order = self.create(
            db,
            kind=kind,
            account_id=account_id,
            subject_bidx=subject_bidx,
            fee_fen=fee_fen,
            now=now,
        )
        order.subject_label = subject_label
        return order, True

    def cancel_expired(self, db: Session, *, account_id: uuid.UUID, now: datetime) -> None:
        """Cancel the account's unpaid orders whose `expires_at` has passed."""
        db.execute(
            update(Order)
            .where(
                Order.account_id == account_id,
                Order.status == OrderStatus.PENDING.value,
                Order.expires_at <= now,
            )
            .values(status=OrderStatus.CANCELLED.value)
            .execution_options(synchronize_session=False)
        )

    def create(
        self,
        db: Session,
        *,
        kind: str,
        account_id: uuid.UUID,
        subject_bidx: bytes,
        fee_fen: int,
        now: datetime | None = None,
    ) -> Order:
        """A pending order for `fee_fen`. A zero fee is not an order: callers release free
        reports without one."""
        kind = OrderKind(kind).value
        if len(subject_bidx) != 32:
            raise ValueError("subject_bidx must be a 32-byte blind index")
        if isinstance(fee_fen, bool) or not isinstance(fee_fen, int) or fee_fen <= 0:
            raise ValueError("fee_fen must be a positive whole number of fen")
        created = now if now is not None else utcnow()
        order = Order(
            kind=kind,
            account_id=account_id,
            subject_bidx=subject_bidx,
            fee_fen=fee_fen,
            status=OrderStatus.PENDING.value,
            created_at=created,
            expires_at=created + timedelta(hours=self.unpaid_hours),
        )
        db.add(order)
        db.flush()
        return order

    def redeem_self_report(
        self,
        db: Session,
        *,
        order_id: uuid.UUID,
        account_id: uuid.UUID,
        now: datetime | None = None,
    ) -> Order | None:
        """Mark a paid, not yet used self-report order of this account used, atomically;
        None for anything else (unknown, someone else's, unpaid, refunded, already used)."""
        moment = now if now is not None else utcnow()
        result = db.execute(
            update(Order)
            .where(
                Order.id == order_id,
                Order.account_id == account_id,
                Order.kind == OrderKind.SELF_REPORT.value,
                Order.status == OrderStatus.PAID.value,
                Order.redeemed_at.is_(None),
            )
            .values(redeemed_at=moment)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        return self._fresh(db, order_id)

    def get_own(self, db: Session, order_id: uuid.UUID, account_id: uuid.UUID) -> Order | None:
        """The order if it belongs to `account_id`; None otherwise (someone else's looks
        exactly like one that does not exist)."""
        order = db.get(Order, order_id)
        if order is None or order.account_id != account_id:
            return None
        return order

    def list_own(self, db: Session, account_id: uuid.UUID, *, limit: int = 100) -> Sequence[Order]:
        return db.scalars(
            select(Order)
            .where(Order.account_id == account_id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        ).all()

    def locked(self, db: Session, order_id: uuid.UUID) -> Order | None:
        """The order, row-locked until the unit of work ends."""
        return db.scalars(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    def mark_paid(
        self,
        db: Session,
        order: Order,
        *,
        payment_ref: str,
        via: PaidVia,
        confirmed_by: uuid.UUID | None,
        now: datetime | None = None,
    ) -> Order:
        """Settle a locked order. Idempotent for the same payment reference."""
        payment_ref = _text(payment_ref, "payment_ref", MAX_PAYMENT_REF)
        if order.status == OrderStatus.PAID.value and order.payment_ref == payment_ref:
            return order
        if order.status != OrderStatus.PENDING.value:
            raise OrderConflict("order_not_pending", f"The order is {order.status}, not pending.")
        moment = now if now is not None else utcnow()
        if order.expires_at is not None and moment >= as_utc(order.expires_at):
            raise OrderConflict(
                "order_expired", "The order was not paid in time; ask for the report again."
            )
        taken = db.scalar(select(Order.id).where(Order.payment_ref == payment_ref))
        if taken is not None:
            raise OrderConflict(
                "payment_ref_used", "This payment reference already settled another order."
            )
        order.status = OrderStatus.PAID.value
        order.paid_at = moment
        order.paid_via = via.value
        order.payment_ref = payment_ref
        order.confirmed_by = confirmed_by
        if order.kind == OrderKind.ARCHIVE_REPORT.value:
            order.available_until = moment + timedelta(days=self.download_days)
        db.flush()
        return order

    def confirm(
        self,
        db: Session,
        *,
        order_id: uuid.UUID,
        payment_ref: str,
        cashier_id: uuid.UUID,
        now: datetime | None = None,
    ) -> Order | None:
        """A cashier confirms payment at the counter; None if there is no such order."""
        order = self.locked(db, order_id)
        if order is None:
            return None
        return self.mark_paid(
            db,
            order,
            payment_ref=payment_ref,
            via=PaidVia.CASHIER,
            confirmed_by=cashier_id,
            now=now,
        )

    def refund(
        self,
        db: Session,
        *,
        order_id: uuid.UUID,
        reason: str,
        cashier_id: uuid.UUID,
        now: datetime | None = None,
    ) -> Order | None:
        """Paid → refunded (the report stops being downloadable); refunding a refunded order
        returns it unchanged; None if there is no such order."""
        reason = _text(reason, "reason", MAX_REASON)
        order = self.locked(db, order_id)
        if order is None:
            return None
        if order.status == OrderStatus.REFUNDED.value:
            return order
        if order.status != OrderStatus.PAID.value:
            raise OrderConflict("order_not_paid", f"The order is {order.status}, not paid.")
        if order.redeemed_at is not None:
            raise OrderConflict("order_used", "The report of this order was already issued.")
        order.status = OrderStatus.REFUNDED.value
        order.refunded_at = now if now is not None else utcnow()
        order.refunded_by = cashier_id
        order.refund_reason = reason
        db.flush()
        return order

    @staticmethod
    def mark_downloaded(order: Order, now: datetime) -> None:
        """An archive order's report has been released: from now on it cannot be refunded."""
        if order.redeemed_at is None:
            order.redeemed_at = now

    @staticmethod
    def report_access(order: Order, now: datetime) -> ReportAccess:
        if order.status == OrderStatus.PENDING.value:
            if order.expires_at is not None and now >= as_utc(order.expires_at):
                return ReportAccess.GONE
            return ReportAccess.PAYMENT_REQUIRED
        if order.status != OrderStatus.PAID.value or order.available_until is None:
            return ReportAccess.GONE
        if now >= as_utc(order.available_until):
            return ReportAccess.GONE
        return ReportAccess.AVAILABLE

    @staticmethod
    def _fresh(db: Session, order_id: uuid.UUID) -> Order | None:
        return db.scalars(
            select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
        ).one_or_none()
