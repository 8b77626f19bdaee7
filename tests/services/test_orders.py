"""Orders: creation, settlement, the download window, refunds and self-report redemption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from app.container import container
from app.models import Account
from app.services.billing.orders import OrderConflict, OrderService, ReportAccess
from tests.logins import make_account
from tests.services.billing_helpers import bidx

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _accounts(app: Flask) -> tuple[Account, Account, Account]:
    return (
        make_account(app, "buyer"),
        make_account(app, "other"),
        make_account(app, "cashier", kind="staff", roles=("cashier",)),
    )


def test_archive_order_is_downloadable_for_seven_days_after_payment(app: Flask) -> None:
    buyer, _, cashier = _accounts(app)
    orders = OrderService(download_days=7)
    with container(app).unit() as db:
        order = orders.create(
            db, kind="archive_report", account_id=buyer.id, subject_bidx=bidx(), fee_fen=2000
        )
        assert orders.report_access(order, T0) is ReportAccess.PAYMENT_REQUIRED
        orders.confirm(db, order_id=order.id, payment_ref="P-1", cashier_id=cashier.id, now=T0)
        assert order.status == "paid"
        assert orders.report_access(order, T0 + timedelta(days=6, hours=23)) is (
            ReportAccess.AVAILABLE
        )
        assert orders.report_access(order, T0 + timedelta(days=7, seconds=1)) is ReportAccess.GONE


def test_confirm_is_idempotent_for_the_same_reference_only(app: Flask) -> None:
    buyer, _, cashier = _accounts(app)
    orders = OrderService()
    with container(app).unit() as db:
        one = orders.create(
            db, kind="archive_report", account_id=buyer.id, subject_bidx=bidx(), fee_fen=2000
        )
        two = orders.create(  # about another subject: one open order per subject
            db, kind="archive_report", account_id=buyer.id, subject_bidx=bidx("two"), fee_fen=2000
        )
        orders.confirm(db, order_id=one.id, payment_ref="P-1", cashier_id=cashier.id, now=T0)
        again = orders.confirm(
            db, order_id=one.id, payment_ref="P-1", cashier_id=cashier.id, now=T0 + timedelta(1)
        )
        assert again is not None
        assert again.paid_at is not None
        assert again.paid_at.replace(tzinfo=UTC) == T0
        with pytest.raises(OrderConflict) as other_ref:
            orders.confirm(db, order_id=one.id, payment_ref="P-2", cashier_id=cashier.id)
        assert other_ref.value.code == "order_not_pending"
        with pytest.raises(OrderConflict) as reused:
            orders.confirm(db, order_id=two.id, payment_ref="P-1", cashier_id=cashier.id)
        assert reused.value.code == "payment_ref_used"
        assert two.status == "pending"


def test_refund_ends_the_download_and_is_idempotent(app: Flask) -> None:
    buyer, _, cashier = _accounts(app)
    orders = OrderService()
    with container(app).unit() as db:
        order = orders.create(
            db, kind="archive_report", account_id=buyer.id, subject_bidx=bidx(), fee_fen=2000
        )
        with pytest.raises(OrderConflict):
            orders.refund(db, order_id=order.id, reason="asked", cashier_id=cashier.id)
        orders.confirm(db, order_id=order.id, payment_ref="P-9", cashier_id=cashier.id, now=T0)
        orders.refund(db, order_id=order.id, reason="asked", cashier_id=cashier.id, now=T0)
        assert orders.report_access(order, T0 + timedelta(hours=1)) is ReportAccess.GONE
        again = orders.refund(db, order_id=order.id, reason="asked", cashier_id=cashier.id)
        assert again is not None
        assert again.status == "refunded"


def test_a_self_report_order_is_redeemed_once_and_only_by_its_owner(app: Flask) -> None:
    buyer, other, cashier = _accounts(app)
    orders = OrderService()
    with container(app).unit() as db:
        order = orders.create(
            db, kind="self_report", account_id=buyer.id, subject_bidx=bidx(), fee_fen=1000
        )
        assert orders.redeem_self_report(db, order_id=order.id, account_id=buyer.id) is None
        orders.confirm(db, order_id=order.id, payment_ref="P-3", cashier_id=cashier.id)
        assert orders.redeem_self_report(db, order_id=order.id, account_id=other.id) is None
        used = orders.redeem_self_report(db, order_id=order.id, account_id=buyer.id, now=T0)
        assert used is not None
        assert used.redeemed_at is not None
        assert orders.redeem_self_report(db, order_id=order.id, account_id=buyer.id) is None
        with pytest.raises(OrderConflict):
            orders.refund(db, order_id=order.id, reason="late", cashier_id=cashier.id)


def test_someone_elses_order_is_not_found(app: Flask) -> None:
    buyer, other, _ = _accounts(app)
    orders = OrderService()
    with container(app).unit() as db:
        order = orders.create(
            db, kind="archive_report", account_id=buyer.id, subject_bidx=bidx(), fee_fen=2000
        )
        assert orders.get_own(db, order.id, buyer.id) is order
        assert orders.get_own(db, order.id, other.id) is None
        assert list(orders.list_own(db, other.id)) == []
