"""Billing: orders for paid reports, signed payment notifications, institution prepaid ledgers.

- `orders` never hold an ID number: the subject ordered about is named only by its 32-byte
  blind index. A paid order carries how it was paid (`cashier` or `notification`) and the
  payment reference, unique when set, so one payment cannot settle two orders.
- `payment_notifications` keep every accepted provider notification by its `notification_id`
  (unique): a replay cannot be accepted twice.
- `ledger_accounts` hold each institution's balance, which the database refuses to take below
  zero (CHECK); `ledger_entries` record every movement (signed amount, balance after it).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, utcnow
from app.models.ids import uuid7


class OrderKind(StrEnum):
    SELF_REPORT = "self_report"
    ARCHIVE_REPORT = "archive_report"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class PaidVia(StrEnum):
    CASHIER = "cashier"
    NOTIFICATION = "notification"


class LedgerKind(StrEnum):
    TOPUP = "topup"
    DEBIT = "debit"
    REFUND = "refund"


class Order(CreatedAt, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("kind IN ('self_report', 'archive_report')", name="kind"),
        CheckConstraint("status IN ('pending', 'paid', 'refunded', 'cancelled')", name="status"),
        CheckConstraint("paid_via IS NULL OR paid_via IN ('cashier', 'notification')", name="via"),
        CheckConstraint("fee_fen >= 0", name="fee_fen"),
        Index("ix_orders_account_id_created_at", "account_id", "created_at"),
        # one open (unpaid) order per account, kind and subject: asking again reuses it
        Index(
            "uq_orders_open",
            "account_id",
            "kind",
            "subject_bidx",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    subject_bidx: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Archive orders: the ID number as the buyer typed it, masked (first 6 + last 4); the
    #: report names the subject only by this, so it is the same whether the subject exists.
    subject_label: Mapped[str | None] = mapped_column(String(18))
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING.value)
    #: An unpaid order is cancelled at this moment (policy limit `unpaid_order_hours`).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_via: Mapped[str | None] = mapped_column(String(16))
    payment_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirmed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    available_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    refund_reason: Mapped[str | None] = mapped_column(String(200))


class RefusedNotification(Base):
    """How many payment notifications were refused before their signature verified, per day
    and reason: counted, never chained into the query log (anyone can send them)."""

    __tablename__ = "refused_notifications"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)


class PaymentNotification(Base):
    __tablename__ = "payment_notifications"

    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (CheckConstraint("balance_fen >= 0", name="balance_fen"),)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id"), primary_key=True
    )
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerEntry(CreatedAt, Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('topup', 'debit', 'refund')", name="kind"),
        CheckConstraint("balance_after >= 0", name="balance_after"),
        Index("ix_ledger_entries_institution_id_created_at", "institution_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    institution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.institution_id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(64))
