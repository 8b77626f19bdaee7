"""Fixtures for tests on real *committed* databases (no outer test transaction): an
application wired to a fresh migrated database of the test's backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app.container import Container, container
from app.migrate import upgrade
from crypto.keys import KeyProvider
from tests.conftest import ScratchDatabase, make_app, make_settings


@pytest.fixture
def parts(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> Iterator[Container]:
    upgrade(scratch_database.url)
    app: Flask = make_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    yield container(app)
    container(app).engine.dispose()
