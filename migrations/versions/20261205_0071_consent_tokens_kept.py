"""Consents keep the token the subject signed, so its signature can be verified again.

Every disclosure to an institution is explained by a consent token (ARCHITECTURE §10), and a
compliance officer must be able to check that explanation later: the stored compact JWS is
verified again under the subject's card certificate from the console. Until now only the
token's SHA-256 was kept; consents registered before this revision have no token (NULL) and
say so when checked. The token names no ID number and no credit data (its claims are the
institution, the subject's internal id, purpose, scope, times and uses), and it is useless to
anyone but the institution it names, which already holds it.

Revision ID: 0071
Revises: 0070
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0071"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("token")
