"""Signed PDF credit reports: report-signing certificates, issued PDFs, and the public
verification's per-address counter.

Revision ID: 0040
Revises: 0051
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0051"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_certificates",
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('root', 'signer')", name=op.f("ck_report_certificates_role")),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_report_certificates")),
    )
    op.create_index(
        op.f("ix_report_certificates_not_after"),
        "report_certificates",
        ["not_after"],
        unique=False,
    )
    op.create_table(
        "issued_reports",
        sa.Column("reference_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("document_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('self', 'archive')", name=op.f("ck_issued_reports_kind")),
        sa.PrimaryKeyConstraint("reference_hash", name=op.f("pk_issued_reports")),
        sa.UniqueConstraint("document_sha256", name=op.f("uq_issued_reports_document_sha256")),
    )
    op.create_table(
        "report_verification_uses",
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_report_verification_uses_used")),
        sa.PrimaryKeyConstraint("client_address", name=op.f("pk_report_verification_uses")),
    )


def downgrade() -> None:
    op.drop_table("report_verification_uses")
    op.drop_table("issued_reports")
    op.drop_index(op.f("ix_report_certificates_not_after"), table_name="report_certificates")
    op.drop_table("report_certificates")
