"""The read-only snapshot unit (`Container.snapshot`) and the writing unit
(`Container.transaction`) on real committed databases, both backends: a snapshot sees one
committed state, never waits for a writer, and (PostgreSQL) refuses to write; a unit commits
what it added (ORM objects and Core statements alike), keeps savepoints working inside it, and
leaves nothing behind when it fails."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.container import Container
from app.models import Account
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
        with parts.unit() as db:
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


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_unit_commits_what_it_added_and_keeps_a_savepoint_it_rolled_back_out(
    parts: Container,
) -> None:
    with parts.unit() as db:
        parts.query_log().append(db, attempt())
        nested = db.begin_nested()  # as an institution query does around its charge
        parts.query_log().append(db, attempt())
        nested.rollback()
        db.add(Account(username="unit-added", kind="subject"))  # an ORM object, flushed at commit
    with parts.snapshot() as db:
        assert count_entries(db) == 1
        names = db.execute(text("SELECT username FROM accounts")).scalars().all()
        assert names == ["unit-added"]


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_unit_that_fails_leaves_nothing_and_frees_the_next_writer(parts: Container) -> None:
    class Refused(Exception):
        pass

    def failing_unit() -> None:
        with parts.unit() as db:
            parts.query_log().append(db, attempt())
            db.add(Account(username="never-kept", kind="subject"))
            raise Refused

    with pytest.raises(Refused):
        failing_unit()
    append_entry(parts)  # the writer lock and the connection were given back
    with parts.snapshot() as db:
        assert count_entries(db) == 1
        assert db.execute(text("SELECT count(*) FROM accounts")).scalar_one() == 0
