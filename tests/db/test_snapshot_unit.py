"""The read-only snapshot unit (`Container.snapshot`) on real committed databases, both backends:
it sees one committed state, never waits for a writer, and (PostgreSQL) refuses to write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.container import Container, container
from app.factory import create_app
from app.migrate import upgrade
from app.models import QueryLogEntry
from crypto.keys import KeyProvider
from tests.conftest import BACKENDS, ScratchDatabase, make_settings
from tests.services.test_query_log import attempt


@pytest.fixture
def parts(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> Iterator[Container]:
    upgrade(scratch_database.url)
    app: Flask = create_app(
        make_settings(scratch_database.url, tmp_path), key_provider=key_provider
    )
    yield container(app)
    container(app).engine.dispose()


def _entries(db: object) -> int:
    return int(db.scalar(select(func.count()).select_from(QueryLogEntry)))  # type: ignore[attr-defined]


def _append(parts: Container) -> None:
    with parts.transaction() as db:
        parts.query_log().append(db, attempt())


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_snapshot_sees_one_committed_state_while_others_commit(parts: Container) -> None:
    _append(parts)
    with parts.snapshot() as db:
        before = _entries(db)
        _append(parts)  # another unit commits meanwhile
        assert _entries(db) == before == 1
    with parts.snapshot() as db:
        assert _entries(db) == 2


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_snapshot_does_not_wait_for_a_writer_holding_its_unit_open(parts: Container) -> None:
    _append(parts)
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
            seen = _entries(db)
        assert seen == 1  # the writer's entry is not committed yet
    finally:
        release.set()
        thread.join(timeout=30)
    with parts.snapshot() as db:
        assert _entries(db) == 2


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_a_write_inside_a_snapshot_fails_on_postgresql(parts: Container) -> None:
    with pytest.raises(DBAPIError, match="read-only transaction"), parts.snapshot() as db:
        db.execute(text("UPDATE query_log_head SET last_seq = last_seq WHERE id = 1"))
