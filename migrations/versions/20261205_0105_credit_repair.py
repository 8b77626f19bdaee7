"""Credit repair: subjects' applications to end a penalty record's display early, their
sealed evidence files, and the registrar's decision.

Revision ID: 0105
Revises: 0100
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0105"
down_revision = "0100"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, referred: str, **options: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}", **options
    )


def upgrade() -> None:
    op.create_table(
        "repair_applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("provider_record_id", sa.String(length=64), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        sa.Column("explanation", sa.LargeBinary(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("hidden_from", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("repair_applications", "subject_id", "subjects"),
        _fk("repair_applications", "record_id", "records"),
        _fk("repair_applications", "provider_id", "data_providers"),
        _fk("repair_applications", "data_key_id", "data_keys"),
        _fk("repair_applications", "decided_by", "accounts"),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'refused')", name="ck_repair_applications_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_repair_applications"),
    )
    op.create_index(
        "ix_repair_applications_subject_id_filed_at",
        "repair_applications",
        ["subject_id", "filed_at"],
    )
    op.create_index(
        "ix_repair_applications_status_filed_at", "repair_applications", ["status", "filed_at"]
    )
    op.create_index(
        "uq_repair_applications_open",
        "repair_applications",
        ["provider_id", "provider_record_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "repair_evidence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _fk("repair_evidence", "application_id", "repair_applications", ondelete="CASCADE"),
        _fk("repair_evidence", "data_key_id", "data_keys"),
        sa.CheckConstraint(
            "media_type IN ('application/pdf', 'image/png', 'image/jpeg')",
            name="ck_repair_evidence_media_type",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_repair_evidence"),
    )
    op.create_index(
        "uq_repair_evidence_application_id_position",
        "repair_evidence",
        ["application_id", "position"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_repair_evidence_application_id_position", table_name="repair_evidence")
    op.drop_table("repair_evidence")
    op.drop_index("uq_repair_applications_open", table_name="repair_applications")
    op.drop_index("ix_repair_applications_status_filed_at", table_name="repair_applications")
    op.drop_index("ix_repair_applications_subject_id_filed_at", table_name="repair_applications")
    op.drop_table("repair_applications")
