"""The review sweep's flags and its position in the query log (ARCHITECTURE §10).

Revision ID: 0072
Revises: 0071
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0072"
down_revision = "0071"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "review_flags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=True),
        sa.Column("actor_ref", sa.String(length=64), nullable=True),
        sa.Column("subject_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high')", name=op.f("ck_review_flags_severity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_flags")),
        sa.UniqueConstraint("rule_id", "key", name=op.f("uq_review_flags_rule_id_key")),
    )
    op.create_index("ix_review_flags_first_seq", "review_flags", ["first_seq"], unique=False)
    op.create_table(
        "review_sweep",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", SEQ, nullable=False),
        sa.Column("rules_version", sa.String(length=64), nullable=False),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_sweep")),
    )


def downgrade() -> None:
    op.drop_table("review_sweep")
    op.drop_index("ix_review_flags_first_seq", table_name="review_flags")
    op.drop_table("review_flags")
