"""Self-service: free-report allowances, daily use counters, public-list index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_allowances",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_report_allowances_used")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_report_allowances_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "year", name=op.f("pk_report_allowances")),
    )
    op.create_table(
        "daily_uses",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_daily_uses_used")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_daily_uses_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "action", "day", name=op.f("pk_daily_uses")),
    )
    op.create_table(
        "public_list_entries",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("name_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("id_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_public_list_entries_record_id_records")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_public_list_entries_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_public_list_entries")),
    )
    for column in ("subject_id", "name_bidx", "id_bidx"):
        op.create_index(
            op.f(f"ix_public_list_entries_{column}"), "public_list_entries", [column], unique=False
        )


def downgrade() -> None:
    for column in ("id_bidx", "name_bidx", "subject_id"):
        op.drop_index(op.f(f"ix_public_list_entries_{column}"), table_name="public_list_entries")
    op.drop_table("public_list_entries")
    op.drop_table("daily_uses")
    op.drop_table("report_allowances")
