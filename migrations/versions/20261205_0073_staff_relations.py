"""Staff members' own ID numbers and their household's, as blind indexes, for the
conflict-of-interest review rule (ARCHITECTURE §10).

Revision ID: 0073
Revises: 0072
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0073"
down_revision = "0072"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_relations",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("subject_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "relation IN ('self', 'spouse', 'parent', 'child', 'sibling', 'household')",
            name=op.f("ck_staff_relations_relation"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_staff_relations_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "subject_bidx", name=op.f("pk_staff_relations")),
    )


def downgrade() -> None:
    op.drop_table("staff_relations")
