"""Consent revocations by jti: a subject can revoke a token before it was ever registered.

Revision ID: 0020
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_revocations",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_consent_revocations_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("subject_id", "jti", name=op.f("pk_consent_revocations")),
    )
    # Revocations already made on registered consents.
    op.execute(
        "INSERT INTO consent_revocations (subject_id, jti, revoked_at) "
        "SELECT subject_id, jti, revoked_at FROM consents WHERE revoked_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("consent_revocations")
