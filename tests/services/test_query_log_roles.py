"""The database itself keeps the query log append-only for the application: SQLite triggers
refuse UPDATE and DELETE; on PostgreSQL the role `creditgate_app` (which production assumes
through CREDITGATE_DATABASE_ROLE) may INSERT but not UPDATE, DELETE or TRUNCATE."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from flask import Flask
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from app.container import container
from app.db import make_engine
from app.services.querylog.log import QueryAttempt

APP_ROLE = "creditgate_app"
REFUSED = (
    "UPDATE query_log SET purpose = 'marketing'",
    "DELETE FROM query_log",
    "UPDATE log_checkpoints SET signature = entry_hash",
    "DELETE FROM log_checkpoints",
)


def _append(app: Flask) -> None:
    parts = container(app)
    with parts.unit() as db:
        parts.query_log().append(
            db,
            QueryAttempt(
                action="self:report:read",
                decision="allowed",
                reason="ok",
                actor_kind="subject",
                actor_ref="acct-1",
                request_id=str(uuid.uuid4()),
                client_address="198.51.100.7",
                subject_bidx=hashlib.sha256(b"s").digest(),
            ),
        )


def _refused(connection: Connection, statement: str) -> str:
    with pytest.raises(DBAPIError) as refused, connection.begin_nested():
        connection.execute(text(statement))
    return str(refused.value.orig)


def test_the_application_can_append_but_never_rewrite_the_log(
    app: Flask, connection: Connection
) -> None:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text(f"SET ROLE {APP_ROLE}"))  # undone with the test's transaction
    _append(app)  # as the application: head locked and updated, entry and checkpoint inserted
    assert connection.execute(text("SELECT count(*) FROM query_log")).scalar_one() == 1
    assert connection.execute(text("SELECT count(*) FROM log_checkpoints")).scalar_one() == 1
    statements = (
        (*REFUSED, "TRUNCATE query_log", "TRUNCATE log_checkpoints") if postgres else REFUSED
    )
    for statement in statements:
        message = _refused(connection, statement)
        if postgres:
            assert "permission denied" in message
        else:
            assert "append-only" in message
    assert connection.execute(text("SELECT count(*) FROM query_log")).scalar_one() == 1


def test_the_app_role_keeps_full_rights_on_every_other_table(connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        # SQLite has no roles: only the triggers on the log tables refuse anything
        names = connection.execute(
            text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        assert set(names) == {"query_log", "log_checkpoints", "login_attempts"}
        return
    rights = dict(
        connection.execute(
            text(
                "SELECT tablename, has_table_privilege(:role, 'public.' || tablename, 'UPDATE')"
                " AND has_table_privilege(:role, 'public.' || tablename, 'DELETE')"
                " FROM pg_tables WHERE schemaname = 'public'"
            ),
            {"role": APP_ROLE},
        ).all()
    )
    # tables of later migrations (0005-0007) are covered by the default privileges
    assert {"accounts", "records", "institutions", "query_log_head"} <= set(rights)
    writable = {name for name, ok in rights.items() if ok}
    assert set(rights) - writable == {
        "query_log",
        "log_checkpoints",
        "query_log_head",
        "login_attempts",  # append-only too (migration 0030)
        "alembic_version",
    }
    assert connection.execute(
        text("SELECT has_table_privilege(:role, 'public.query_log_head', 'UPDATE')"),
        {"role": APP_ROLE},
    ).scalar_one()


def test_the_engine_assumes_the_configured_role_on_every_connection(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        # on SQLite the setting has no effect and the engine works as before
        engine = make_engine(database_url, role=APP_ROLE)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        engine.dispose()
        return
    engine = make_engine(database_url, role=APP_ROLE, pool_size=1, max_overflow=0)
    try:
        for _ in range(2):  # the role survives the pool's rollback on return
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_user")).scalar_one() == APP_ROLE
                with pytest.raises(DBAPIError, match="permission denied"):
                    conn.execute(text("DELETE FROM query_log"))
                conn.rollback()
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match="plain"):
        make_engine(database_url, role='x"; DROP TABLE query_log; --')
