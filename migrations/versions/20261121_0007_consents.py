"""Consents: institutional consent tokens, their uses and revocations.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("token_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("card_thumbprint", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("uses >= 0 AND uses <= max_uses", name=op.f("ck_consents_uses")),
        sa.CheckConstraint("max_uses >= 1", name=op.f("ck_consents_max_uses")),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_consents_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_subject_id"), "consents", ["subject_id"], unique=False)
    op.create_index(op.f("ix_consents_client_id"), "consents", ["client_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_consents_client_id"), table_name="consents")
    op.drop_index(op.f("ix_consents_subject_id"), table_name="consents")
    op.drop_table("consents")
