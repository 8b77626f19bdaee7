"""Query log: append-only entries, the head row that serialises appends, signed checkpoints.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("query_log", "log_checkpoints")

#: The application's PostgreSQL role (cluster-global, NOLOGIN): production logs in as a member
#: and the engine runs `SET ROLE creditgate_app` (CREDITGATE_DATABASE_ROLE). It may read and
#: write every app table but only SELECT and INSERT the query log and its checkpoints.
APP_ROLE = "creditgate_app"

# Created idempotently; parallel test databases may race to create it, so a duplicate is fine.
_CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'creditgate_app') THEN
        BEGIN
            CREATE ROLE creditgate_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$
"""


def _grant_app_role() -> None:
    op.execute(_CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    # tables the later migrations create (by the same migrating owner) get the same rights
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )
    # ...except the log: append-only for the application
    for table in (*APPEND_ONLY, "alembic_version"):
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
    for table in APPEND_ONLY:
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON query_log_head FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, UPDATE ON query_log_head TO {APP_ROLE}")


def _revoke_app_role() -> None:
    """The role itself stays: it is cluster-global and other databases may use it."""
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
    )
    privileges = "USAGE, SELECT"
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE {privileges} ON SEQUENCES "
        f"FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")


def upgrade() -> None:
    op.create_table(
        "query_log",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_ref", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("subject_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("consent_jti", sa.String(length=128), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("rule_ids", sa.String(length=400), nullable=False),
        sa.Column("fields_released", sa.Text(), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=False),
        sa.Column("catalog_version", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("client_address", sa.String(length=45), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_query_log")),
    )
    op.create_index(
        "ix_query_log_subject_bidx_seq", "query_log", ["subject_bidx", "seq"], unique=False
    )
    op.create_table(
        "query_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", SEQ, nullable=False),
        sa.Column("last_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("checkpoint_seq", SEQ, nullable=False),
        sa.Column("checkpoint_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_log_head")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_label", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=512), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_log_checkpoints")),
    )
    head = sa.table(
        "query_log_head",
        sa.column("id", sa.Integer()),
        sa.column("last_seq", sa.Integer()),
        sa.column("last_hash", sa.LargeBinary()),
        sa.column("checkpoint_seq", sa.Integer()),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": bytes(32), "checkpoint_seq": 0}])
    if op.get_context().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    if op.get_context().dialect.name == "postgresql":
        _grant_app_role()


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _revoke_app_role()
    if op.get_context().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_table("log_checkpoints")
    op.drop_table("query_log_head")
    op.drop_index("ix_query_log_subject_bidx_seq", table_name="query_log")
    op.drop_table("query_log")
