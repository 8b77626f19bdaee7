"""Orders: one open order per account, kind and subject, and unpaid orders expire.

Every 402 used to create another pending order. Now an unpaid order carries `expires_at`
(policy limit `unpaid_order_hours`), a request that would need one reuses the open order of
the same account, kind and subject, and a partial unique index holds that to one. The upgrade
cancels all but the newest pending order of each such group, so the index can be built, and
gives the remaining pending orders a day from now.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_CANCEL_DUPLICATES = """
UPDATE orders SET status = 'cancelled'
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (
            PARTITION BY account_id, kind, subject_bidx ORDER BY created_at DESC, id DESC
        ) AS newest
        FROM orders WHERE status = 'pending'
    ) AS ranked
    WHERE newest > 1
)
"""


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_CANCEL_DUPLICATES)
    orders = sa.table(
        "orders",
        sa.column("status", sa.String()),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        orders.update()
        .where(orders.c.status == "pending")
        .values(expires_at=datetime.now(UTC) + timedelta(hours=24))
    )
    op.create_index(
        "uq_orders_open",
        "orders",
        ["account_id", "kind", "subject_bidx"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_orders_open", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("expires_at")
