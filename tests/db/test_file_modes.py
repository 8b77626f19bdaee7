"""The local state is readable by its owner only: `var/` 0700, the SQLite database and the
`-wal`/`-shm` files SQLite creates beside it 0600, under the usual umask of 022."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app import migrate
from app.db import make_engine
from app.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_installation_is_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = Settings.from_env({"CREDITGATE_VAR_DIR": str(var)})
    assert _mode(var) == 0o700
    migrate.upgrade(settings.database_url)
    database = var / "creditgate.db"
    assert _mode(database) == 0o600
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as reader, engine.begin() as writer:
            reader.execute(text("SELECT count(*) FROM query_log")).scalar()
            writer.execute(text("CREATE TABLE scratch (x INTEGER)"))
            # SQLite made the WAL and the shared-memory index while these were open
            wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
            assert wal.exists()
            assert shm.exists()
            assert _mode(wal) == 0o600
            assert _mode(shm) == 0o600
    finally:
        engine.dispose()
    assert sorted(path.name for path in var.iterdir() if _mode(path) & 0o077) == []


def test_files_left_readable_by_an_older_version_are_made_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    database = var / "creditgate.db"
    url = f"sqlite:///{database}"
    migrate.upgrade(url)
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.touch()
        path.chmod(0o644)
    Settings.from_env({"CREDITGATE_VAR_DIR": str(var)})
    make_engine(url).dispose()
    assert _mode(var) == 0o700
    assert _mode(database) == 0o600
    assert _mode(Path(f"{database}-wal")) == 0o600
    assert _mode(Path(f"{database}-shm")) == 0o600
