"""login_attempts append-only, like the query log (ASVS 5.0 V16.4.2: logs protected from change).

SQLite: a trigger for each of UPDATE and DELETE aborts the statement. PostgreSQL: the
application role loses UPDATE, DELETE and TRUNCATE on the table, and a trigger refuses every
UPDATE, DELETE and TRUNCATE whoever runs it (an owner's retention job drops it knowingly,
which `/readyz` and `flask log verify` then report). `app.services.querylog.guards` checks
that all of this still holds.

Revision ID: 0030
Revises: 0111
"""

from __future__ import annotations

from alembic import op

revision = "0030"
down_revision = "0111"
branch_labels = None
depends_on = None

TABLE = "login_attempts"
APP_ROLE = "creditgate_app"
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{TABLE} is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END"
            )
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM {APP_ROLE}")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}")
    if dialect == "postgresql":
        op.execute(f"GRANT UPDATE, DELETE ON {TABLE} TO {APP_ROLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}")
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE}_append_only()")
