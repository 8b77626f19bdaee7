"""The bundle exchange: this side's receive key, the peer's keys, the bundle chain each way and
what was last published of each provider, subject and record (docs/exchange.md).

Revision ID: 0120
Revises: 0074
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0120"
down_revision = "0074"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_receive_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_der", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_private", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_receive_keys")),
    )
    op.create_table(
        "exchange_peers",
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("sign_public_der", sa.LargeBinary(), nullable=False),
        sa.Column("receive_public_der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('registry', 'portal')", name=op.f("ck_exchange_peers_side")),
        sa.PrimaryKeyConstraint("side", name=op.f("pk_exchange_peers")),
    )
    op.create_table(
        "exchange_bundles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("peer", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("bundle_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "direction IN ('in', 'out')", name=op.f("ck_exchange_bundles_direction")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_bundles")),
        sa.UniqueConstraint(
            "direction",
            "peer",
            "sequence",
            name=op.f("uq_exchange_bundles_direction_peer_sequence"),
        ),
    )
    op.create_table(
        "exchange_published",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('provider', 'subject', 'record')", name=op.f("ck_exchange_published_kind")
        ),
        sa.PrimaryKeyConstraint("kind", "ref", name=op.f("pk_exchange_published")),
    )


def downgrade() -> None:
    op.drop_table("exchange_published")
    op.drop_table("exchange_bundles")
    op.drop_table("exchange_peers")
    op.drop_table("exchange_receive_keys")
