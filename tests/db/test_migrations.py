"""Migrations: every revision up and down on both backends, and head equals the models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from app import migrate
from app.db import make_engine
from app.models import Base
from tests.conftest import BACKENDS, ScratchDatabase

REVISION_FILE = re.compile(r"^\d{8}_\d{4}_[a-z0-9_]+\.py$")


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_revision_files_are_dated_and_named() -> None:
    files = sorted(p.name for p in (migrate.MIGRATIONS / "versions").glob("*.py"))
    assert files, "no revisions"
    assert all(REVISION_FILE.match(name) for name in files), files


def test_there_is_a_single_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_head_equals_the_models(scratch_database: ScratchDatabase) -> None:
    migrate.upgrade(scratch_database.url)
    engine = make_engine(scratch_database.url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_every_revision_goes_up_and_down(scratch_database: ScratchDatabase) -> None:
    url = scratch_database.url
    revisions = _revisions()
    for index, revision in enumerate(revisions):
        migrate.upgrade(url, revision)
        assert migrate.current_revision(url) == revision
        below = revisions[index - 1] if index else "base"
        migrate.downgrade(url, below)
        assert migrate.current_revision(url) == (None if below == "base" else below)
        migrate.upgrade(url, revision)
    migrate.downgrade(url, "base")
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set()


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
