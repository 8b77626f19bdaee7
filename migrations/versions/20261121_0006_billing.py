"""Billing: orders, payment notifications, institution prepaid ledger.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("balance_fen >= 0", name=op.f("ck_ledger_accounts_balance_fen")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_ledger_accounts_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_ledger_accounts")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('topup', 'debit', 'refund')", name=op.f("ck_ledger_entries_kind")
        ),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_ledger_entries_balance_after")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["ledger_accounts.institution_id"],
            name=op.f("fk_ledger_entries_institution_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_institution_id_created_at",
        "ledger_entries",
        ["institution_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("subject_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject_label", sa.String(length=18), nullable=True),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_via", sa.String(length=16), nullable=True),
        sa.Column("payment_ref", sa.String(length=64), nullable=True),
        sa.Column("confirmed_by", sa.Uuid(), nullable=True),
        sa.Column("available_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_by", sa.Uuid(), nullable=True),
        sa.Column("refund_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('self_report', 'archive_report')", name=op.f("ck_orders_kind")
        ),
        sa.CheckConstraint(
            "paid_via IS NULL OR paid_via IN ('cashier', 'notification')",
            name=op.f("ck_orders_via"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'refunded', 'cancelled')", name=op.f("ck_orders_status")
        ),
        sa.CheckConstraint("fee_fen >= 0", name=op.f("ck_orders_fee_fen")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["accounts.id"], name=op.f("fk_orders_confirmed_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["refunded_by"], ["accounts.id"], name=op.f("fk_orders_refunded_by_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("payment_ref", name=op.f("uq_orders_payment_ref")),
    )
    op.create_index(
        "ix_orders_account_id_created_at", "orders", ["account_id", "created_at"], unique=False
    )
    op.create_table(
        "payment_notifications",
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_notifications_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_payment_notifications")),
    )
    op.create_index(
        op.f("ix_payment_notifications_order_id"),
        "payment_notifications",
        ["order_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_notifications_order_id"), table_name="payment_notifications")
    op.drop_table("payment_notifications")
    op.drop_index("ix_orders_account_id_created_at", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_ledger_entries_institution_id_created_at", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_accounts")
