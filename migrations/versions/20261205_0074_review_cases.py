"""Review cases with the four-eyes rules held by the database, their history, and the
suspension of an institution by a case's outcome (ARCHITECTURE §10).

Revision ID: 0074
Revises: 0031
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0074"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flag_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=True),
        sa.Column("actor_ref", sa.String(length=64), nullable=True),
        sa.Column("subject_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("escalated_by", sa.Uuid(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'in_review', 'cleared', 'escalated', 'closed')",
            name=op.f("ck_review_cases_state"),
        ),
        sa.CheckConstraint(
            "kind IN ('flag', 'lift_suspension')", name=op.f("ck_review_cases_kind")
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('cleared', 'no_action', 'suspend_institution', "
            "'lift_suspension')",
            name=op.f("ck_review_cases_outcome"),
        ),
        sa.CheckConstraint(
            "kind <> 'flag' OR flag_id IS NOT NULL",
            name=op.f("ck_review_cases_flag_case_has_flag"),
        ),
        sa.CheckConstraint(
            "escalated_by IS NULL OR (reviewer_id IS NOT NULL AND escalated_by <> reviewer_id)",
            name=op.f("ck_review_cases_escalation_four_eyes"),
        ),
        sa.CheckConstraint(
            "state <> 'closed' OR (escalated_by IS NOT NULL AND decided_by IS NOT NULL "
            "AND decided_by <> escalated_by)",
            name=op.f("ck_review_cases_closing_four_eyes"),
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"], ["review_flags.id"], name=op.f("fk_review_cases_flag_id_review_flags")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_review_cases_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["accounts.id"], name=op.f("fk_review_cases_opened_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["accounts.id"], name=op.f("fk_review_cases_reviewer_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["escalated_by"], ["accounts.id"], name=op.f("fk_review_cases_escalated_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["accounts.id"], name=op.f("fk_review_cases_decided_by_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_cases")),
        sa.UniqueConstraint("flag_id", name=op.f("uq_review_cases_flag_id")),
    )
    op.create_index("ix_review_cases_state_deadline", "review_cases", ["state", "deadline"])
    op.create_table(
        "review_case_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=True),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "step IN ('opened', 'taken', 'noted', 'cleared', 'escalated', 'closed')",
            name=op.f("ck_review_case_events_step"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["review_cases.id"],
            name=op.f("fk_review_case_events_case_id_review_cases"),
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["accounts.id"], name=op.f("fk_review_case_events_officer_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_case_events")),
    )
    op.create_index(
        op.f("ix_review_case_events_case_id"), "review_case_events", ["case_id"], unique=False
    )
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suspended_by_case", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("suspended_by_case")
        batch_op.drop_column("suspended_at")
    op.drop_index(op.f("ix_review_case_events_case_id"), table_name="review_case_events")
    op.drop_table("review_case_events")
    op.drop_index("ix_review_cases_state_deadline", table_name="review_cases")
    op.drop_table("review_cases")
