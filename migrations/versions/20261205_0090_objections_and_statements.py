"""Subjects' objections and statements on their records, and the records each institution
report released (for the disputes institutions see).

Revision ID: 0090
Revises: 0073
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0090"
down_revision = "0073"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}"
    )


def _record_columns(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("provider_record_id", sa.String(length=64), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        _fk(table, "subject_id", "subjects"),
        _fk(table, "record_id", "records"),
        _fk(table, "provider_id", "data_providers"),
        _fk(table, "data_key_id", "data_keys"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("has_notes", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "objections",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_record_columns("objections"),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("stage_opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("corrected_record_id", sa.Uuid(), nullable=True),
        _fk("objections", "resolved_by", "accounts"),
        _fk("objections", "corrected_record_id", "records"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "stage IN ('objection', 'reconsideration', 'court')", name="ck_objections_stage"
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_objections_status"),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('corrected', 'deleted', 'upheld')",
            name="ck_objections_outcome",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_objections"),
    )
    op.create_index("ix_objections_subject_id_filed_at", "objections", ["subject_id", "filed_at"])
    op.create_index("ix_objections_provider_id_status", "objections", ["provider_id", "status"])
    op.create_index("ix_objections_status_due_on", "objections", ["status", "due_on"])
    op.create_index(
        "uq_objections_open",
        "objections",
        ["provider_id", "provider_record_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "objection_answers",
        sa.Column("objection_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('corrected', 'deleted', 'upheld')", name="ck_objection_answers_outcome"
        ),
        sa.ForeignKeyConstraint(
            ["objection_id"],
            ["objections.id"],
            name="fk_objection_answers_objection_id_objections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("objection_id", "stage", name="pk_objection_answers"),
    )
    op.create_table(
        "statements",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_record_columns("statements"),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'withdrawn')", name="ck_statements_status"),
        sa.PrimaryKeyConstraint("id", name="pk_statements"),
    )
    op.create_index("ix_statements_subject_id_made_at", "statements", ["subject_id", "made_at"])
    op.create_index(
        "uq_statements_active",
        "statements",
        ["provider_id", "provider_record_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "released_records",
        sa.Column("log_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        _fk("released_records", "record_id", "records"),
        _fk("released_records", "institution_id", "institutions"),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("log_seq", "record_id", name="pk_released_records"),
    )
    op.create_index(
        "ix_released_records_institution_id_released_at",
        "released_records",
        ["institution_id", "released_at"],
    )
    op.create_index("ix_released_records_record_id", "released_records", ["record_id"])


def downgrade() -> None:
    op.drop_table("released_records")
    op.drop_table("statements")
    op.drop_table("objection_answers")
    op.drop_table("objections")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_column("has_notes")
