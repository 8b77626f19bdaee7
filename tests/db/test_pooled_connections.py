"""Pooled connections on real committed databases: what one request leaves behind for the next.

`Container.reads` (the login gate's check) and `Container.snapshot` change a connection's
characteristics on PostgreSQL (autocommit; REPEATABLE READ, READ ONLY). A characteristic that
leaked into the pool would make a later unit of work silently non-transactional or unable to
write. A pooled connection whose server went away is replaced before use once it has been
idle, and fails one statement (a 503 upstream) otherwise, after which the pool reconnects.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

import app.db
from app.container import Container
from app.services.querylog.records import ENTRIES_ABOUT
from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.db.log_entries import append_entry, count_entries
from tests.services.test_query_log import attempt


def _driver(connection: Any) -> Any:
    return connection.connection.driver_connection


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_reads_see_what_is_committed_and_the_next_unit_is_still_a_transaction(
    parts: Container,
) -> None:
    append_entry(parts)
    with parts.reads() as connection:
        assert count_entries(connection) == 1
        driver = _driver(connection)
    if parts.engine.dialect.name == "postgresql":
        assert driver.autocommit is False  # the pool took autocommit back
    with pytest.raises(RuntimeError), parts.unit() as db:  # noqa: PT012
        parts.query_log().append(db, attempt())
        raise RuntimeError("the unit fails after its append")
    with parts.reads() as connection:
        assert count_entries(connection) == 1  # rolled back: the unit was a transaction


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_a_snapshot_leaves_no_read_only_connection_in_the_pool(parts: Container) -> None:
    with parts.snapshot() as db:
        driver = _driver(db)
        assert driver.read_only is True
    assert not driver.read_only
    # every pooled connection can write again: the next units commit
    for _ in range(3):
        append_entry(parts)
    with parts.snapshot() as db:
        assert count_entries(db) == 3


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_an_idle_connection_whose_server_went_away_is_replaced_before_use(
    parts: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_entry(parts)
    _kill_pooled_connection(parts)
    monkeypatch.setattr(app.db, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection is "idle"
    with parts.reads() as connection:
        assert count_entries(connection) == 1


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_a_busy_connection_whose_server_went_away_fails_once_then_the_pool_reconnects(
    parts: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_entry(parts)
    _kill_pooled_connection(parts)
    monkeypatch.setattr(app.db, "PING_AFTER_IDLE_S", 3600.0)  # nothing is pinged
    with pytest.raises(DBAPIError), parts.reads() as connection:
        count_entries(connection)
    with parts.reads() as connection:
        assert count_entries(connection) == 1


def _kill_pooled_connection(parts: Container) -> None:
    """Leave exactly one connection in the pool, and end its server process."""
    parts.engine.dispose()
    with parts.engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        connection.rollback()
    admin = app.db.make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            ended = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            assert ended.scalar_one() is True
    finally:
        admin.dispose()


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_every_connection_commits_synchronously_whatever_the_database_default(
    parts: Container, scratch_database: Any
) -> None:
    """A database (or role) default of `synchronous_commit = off` would let a commit return
    before its log entry is on disk; the engine pins it on in every connection's startup."""
    admin = app.db.make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = scratch_database.url.rsplit("/", 1)[1]
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()
    parts.engine.dispose()  # connections made from now on see the new default
    with parts.unit() as db:
        setting = db.execute(text("SHOW synchronous_commit")).scalar_one()
    assert setting == "on"
    plain = create_engine(app.db.normalise_url(scratch_database.url))
    try:
        with plain.connect() as connection:  # without the pin, the default would hold
            assert connection.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
    finally:
        plain.dispose()


@pytest.mark.parametrize("scratch_database", ["sqlite"], indirect=True)
def test_query_records_are_read_from_the_index_alone_on_sqlite(parts: Container) -> None:
    """A subject's query records touch no wide log row: every column they show or filter on
    is in `ix_query_log_query_records` (migration 0008). Adding a shown column to the
    statement without adding it to the index fails here."""
    statement = ENTRIES_ABOUT.compile(dialect=parts.engine.dialect)
    params = statement.construct_params(
        {"subject_bidx": b"\x00" * 32, "since": "2026-01-01", "before_seq": 10, "limit": 5}
    )
    with parts.reads() as connection:
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}",
            tuple(params[name] for name in statement.positiontup or ()),
        ).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "USING COVERING INDEX ix_query_log_query_records" in details, details
