"""Department intake: batches, per-row errors, written consents, prior notices; record versions.

Records become versions of a provider's record `(provider_id, provider_record_id)`: a correction
adds a version and marks the previous one `superseded`, a withdrawal marks the current one
`withdrawn`; only `current` versions are shown. Records already held (demo intake) become
version 1 of a record whose provider record id is their own id.

Revision ID: 0050
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("content_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("corrected", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("consents", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.CheckConstraint("format IN ('jsonl', 'csv')", name=op.f("ck_intake_batches_format")),
        sa.CheckConstraint("source IN ('api', 'file')", name=op.f("ck_intake_batches_source")),
        sa.CheckConstraint(
            "status IN ('processing', 'done')", name=op.f("ck_intake_batches_status")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["data_providers.id"],
            name=op.f("fk_intake_batches_provider_id_data_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_batches")),
        sa.UniqueConstraint(
            "provider_id",
            "content_sha256",
            name=op.f("uq_intake_batches_provider_id_content_sha256"),
        ),
    )
    op.create_table(
        "collection_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("consent_ref", sa.String(length=64), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("concepts", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["intake_batches.id"],
            name=op.f("fk_collection_consents_batch_id_intake_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["data_providers.id"],
            name=op.f("fk_collection_consents_provider_id_data_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_collection_consents_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_consents")),
        sa.UniqueConstraint(
            "provider_id",
            "consent_ref",
            name=op.f("uq_collection_consents_provider_id_consent_ref"),
        ),
    )
    with op.batch_alter_table("collection_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_consents_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_collection_consents_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "intake_errors",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=48), nullable=False),
        sa.Column("message", sa.String(length=240), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["intake_batches.id"],
            name=op.f("fk_intake_errors_batch_id_intake_batches"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "row", name=op.f("pk_intake_errors")),
    )
    op.create_table(
        "prior_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["data_providers.id"],
            name=op.f("fk_prior_notices_provider_id_data_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_prior_notices_record_id_records")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_prior_notices_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prior_notices")),
        sa.UniqueConstraint("record_id", name=op.f("uq_prior_notices_record_id")),
    )
    with op.batch_alter_table("prior_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prior_notices_subject_id_notified_on", ["subject_id", "notified_on"], unique=False
        )

    with op.batch_alter_table("data_providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("institution_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_data_providers_institution_id"), ["institution_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_data_providers_institution_id_institutions"),
            "institutions",
            ["institution_id"],
            ["id"],
        )

    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_record_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="current")
        )
        batch_op.add_column(
            sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("change_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("batch_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("received_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("consent_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE records SET provider_record_id = CAST(id AS VARCHAR(64))")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.alter_column(
            "provider_record_id", existing_type=sa.String(length=64), nullable=False
        )
        batch_op.alter_column(
            "version", existing_type=sa.Integer(), existing_nullable=False, server_default=None
        )
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            server_default=None,
        )
        batch_op.create_check_constraint(
            op.f("ck_records_status"), "status IN ('current', 'superseded', 'withdrawn')"
        )
        # the unique (provider_id, provider_record_id, version) index leads with provider_id
        batch_op.drop_index(batch_op.f("ix_records_provider_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_records_provider_id_provider_record_id_version"),
            ["provider_id", "provider_record_id", "version"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_records_batch_id_intake_batches"), "intake_batches", ["batch_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_records_consent_id_collection_consents"),
            "collection_consents",
            ["consent_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_records_consent_id_collection_consents"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_records_batch_id_intake_batches"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("uq_records_provider_id_provider_record_id_version"), type_="unique"
        )
        batch_op.create_index(batch_op.f("ix_records_provider_id"), ["provider_id"], unique=False)
        batch_op.drop_constraint(op.f("ck_records_status"), type_="check")
        batch_op.drop_column("consent_id")
        batch_op.drop_column("received_on")
        batch_op.drop_column("batch_id")
        batch_op.drop_column("change_reason")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status")
        batch_op.drop_column("version")
        batch_op.drop_column("provider_record_id")

    with op.batch_alter_table("data_providers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_data_providers_institution_id_institutions"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_data_providers_institution_id"), type_="unique")
        batch_op.drop_column("institution_id")

    with op.batch_alter_table("prior_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_prior_notices_subject_id_notified_on")

    op.drop_table("prior_notices")
    op.drop_table("intake_errors")
    with op.batch_alter_table("collection_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_consents_subject_id"))
        batch_op.drop_index(batch_op.f("ix_collection_consents_batch_id"))

    op.drop_table("collection_consents")
    op.drop_table("intake_batches")
