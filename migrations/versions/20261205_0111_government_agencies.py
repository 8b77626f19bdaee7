"""Government agencies: the administrative purposes each agency's OAuth client is registered
for (`flask government register`). A query for any other purpose is refused and logged.

Revision ID: 0111
Revises: 0110
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0111"
down_revision = "0110"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "government_agencies",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("purposes", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_government_agencies_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_government_agencies")),
    )


def downgrade() -> None:
    op.drop_table("government_agencies")
