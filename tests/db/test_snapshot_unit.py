"""The read-only snapshot unit (`Container.snapshot`) on real committed databases, both backends:
it sees one committed state, never waits for a writer, and (PostgreSQL) refuses to write."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.container import Container
from tests.conftest import BACKENDS
from tests.db.log_entries import append_entry, count_entries
from tests.services.test_query_log import attempt


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_snapshot_sees_one_committed_state_while_others_commit(parts: Container) -> None:
    append_entry(parts)
    with parts.snapshot() as db:
        before = count_entries(db)
        append_entry(parts)  # another unit commits meanwhile
        assert count_entries(db) == before == 1
    with parts.snapshot() as db:
        assert count_entries(db) == 2


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_snapshot_does_not_wait_for_a_writer_holding_its_unit_open(parts: Container) -> None:
    append_entry(parts)
    writing, release = threading.Event(), threading.Event()

    def writer() -> None:
        with parts.transaction() as db:
            parts.query_log().append(db, attempt())
            writing.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(timeout=30)
        with parts.snapshot() as db:  # would block here if it queued behind the writer
            seen = count_entries(db)
        assert seen == 1  # the writer's entry is not committed yet
    finally:
        release.set()
        thread.join(timeout=30)
    with parts.snapshot() as db:
        assert count_entries(db) == 2


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_a_write_inside_a_snapshot_fails_on_postgresql(parts: Container) -> None:
    with pytest.raises(DBAPIError, match="read-only transaction"), parts.snapshot() as db:
        db.execute(text("UPDATE query_log_head SET last_seq = last_seq WHERE id = 1"))
