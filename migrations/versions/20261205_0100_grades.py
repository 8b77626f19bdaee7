"""Grades A-E: each subject's latest grading and counted grade, and the second approvals an A
or an E waits for (ARCHITECTURE §3 "Grading"; issue 18 item 4).

Revision ID: 0100
Revises: 0120
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100"
down_revision = "0120"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_grades",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("scorecard_version", sa.String(length=64), nullable=False),
        sa.Column("graded_on", sa.Date(), nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counted_grade", sa.String(length=1), nullable=True),
        sa.Column("counted_score", sa.Integer(), nullable=True),
        sa.Column("counted_explanation", sa.Text(), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "counted_grade IS NULL OR counted_grade IN ('A', 'B', 'C', 'D', 'E')",
            name=op.f("ck_subject_grades_counted_grade"),
        ),
        sa.CheckConstraint(
            "grade IN ('A', 'B', 'C', 'D', 'E')", name=op.f("ck_subject_grades_grade")
        ),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_subject_grades_score")),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_grades_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_grades")),
    )
    with op.batch_alter_table("subject_grades", schema=None) as batch_op:
        batch_op.create_index("ix_subject_grades_counted_grade", ["counted_grade"], unique=False)

    op.create_table(
        "grade_approvals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("scorecard_version", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_by", sa.Uuid(), nullable=True),
        sa.Column("proposed_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status IN ('approved', 'refused')) = (decided_by IS NOT NULL)",
            name=op.f("ck_grade_approvals_decided"),
        ),
        sa.CheckConstraint("grade IN ('A', 'E')", name=op.f("ck_grade_approvals_grade")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused', 'superseded')",
            name=op.f("ck_grade_approvals_status"),
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR proposed_by IS NULL OR decided_by <> proposed_by",
            name=op.f("ck_grade_approvals_second_person"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["accounts.id"], name=op.f("fk_grade_approvals_decided_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"], ["accounts.id"], name=op.f("fk_grade_approvals_proposed_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_grade_approvals_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_approvals")),
    )
    with op.batch_alter_table("grade_approvals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_grade_approvals_status_proposed_at", ["status", "proposed_at"], unique=False
        )
        batch_op.create_index(
            "uq_grade_approvals_pending",
            ["subject_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("grade_approvals", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_grade_approvals_pending",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_grade_approvals_status_proposed_at")

    op.drop_table("grade_approvals")
    with op.batch_alter_table("subject_grades", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_grades_counted_grade")

    op.drop_table("subject_grades")
