"""Red and black lists: proposed changes under review, and published listings.

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("rule_id", sa.String(length=48), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("due_by", sa.Date(), nullable=True),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("check_passed", sa.Boolean(), nullable=False),
        sa.Column("check_detail", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.String(length=200), nullable=True),
        sa.CheckConstraint("change IN ('add', 'remove')", name=op.f("ck_list_changes_change")),
        sa.CheckConstraint("list IN ('black', 'red')", name=op.f("ck_list_changes_list")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_list_changes_status"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["accounts.id"], name=op.f("fk_list_changes_reviewed_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_list_changes_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_changes")),
    )
    with op.batch_alter_table("list_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_list_changes_status_proposed_at", ["status", "proposed_at"], unique=False
        )
        batch_op.create_index(
            "ix_list_changes_subject_id_list", ["subject_id", "list"], unique=False
        )

    op.create_table(
        "list_publications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.String(length=48), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by_change", sa.Uuid(), nullable=False),
        sa.Column("removed_by_change", sa.Uuid(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("id_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("list IN ('black', 'red')", name=op.f("ck_list_publications_list")),
        sa.ForeignKeyConstraint(
            ["added_by_change"],
            ["list_changes.id"],
            name=op.f("fk_list_publications_added_by_change_list_changes"),
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_change"],
            ["list_changes.id"],
            name=op.f("fk_list_publications_removed_by_change_list_changes"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_list_publications_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_publications")),
    )
    with op.batch_alter_table("list_publications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_publications_id_bidx"), ["id_bidx"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_list_publications_name_bidx"), ["name_bidx"], unique=False
        )
        batch_op.create_index(
            "ix_list_publications_subject_id_list", ["subject_id", "list"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("list_publications", schema=None) as batch_op:
        batch_op.drop_index("ix_list_publications_subject_id_list")
        batch_op.drop_index(batch_op.f("ix_list_publications_name_bidx"))
        batch_op.drop_index(batch_op.f("ix_list_publications_id_bidx"))

    op.drop_table("list_publications")
    with op.batch_alter_table("list_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_list_changes_subject_id_list")
        batch_op.drop_index("ix_list_changes_status_proposed_at")

    op.drop_table("list_changes")
