"""Login attempts: whether a failure counts against the account it names.

A failed card login counts against the account only when the card's signature verified, so a
stranger without the card cannot lock its holder out; every failure still counts against the
client address. Rows written before this revision keep counting against their account.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counts_for_account", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_column("counts_for_account")
