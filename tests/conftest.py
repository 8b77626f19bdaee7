"""Shared fixtures: every database test runs on SQLite *and* PostgreSQL, one savepoint a test.

PostgreSQL must answer (make test starts it): an unreachable server is an error, never a skip,
and in CI a run in which either backend executed no test fails.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, text

from app import migrate
from app.db import make_engine
from app.settings import Mode, Settings, Side
from crypto.keys import KeyProvider
from tests import openapi_check
from tests.fakes import InMemoryKeyProvider

# Every response to an /api/ route in the whole run is checked against app/openapi.json.
Flask.test_client_class = openapi_check.ValidatingClient

pytest_plugins = ["tests.softhsm_fixtures"]

PG_ADMIN_URL = os.environ.get(
    "CREDITGATE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")
_backend_passes: dict[str, int] = dict.fromkeys(BACKENDS, 0)


class ScratchDatabase:
    """A throw-away database on one backend: created empty, dropped at the end."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        if backend == "sqlite":
            self.url = f"sqlite:///{directory / f'cg-{uuid.uuid4().hex[:8]}.db'}"
            self._name = None
            return
        self._name = f"creditgate_test_{secrets.token_hex(6)}"
        admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self._name}"'))
        except Exception as exc:
            raise RuntimeError(
                f"cannot create a test database through {PG_ADMIN_URL} ({exc}); run `make test` "
                "(it starts the server) or set CREDITGATE_TEST_PG_ADMIN_URL"
            ) from exc
        finally:
            admin.dispose()
        self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self._name}"

    def drop(self) -> None:
        if self._name is None:
            return
        admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def scratch_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    """An empty database on the backend named by the test's `backend` parameter."""
    database = ScratchDatabase(request.param, tmp_path)
    yield database
    database.drop()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, shared by the session's tests on that backend."""
    database = ScratchDatabase(request.param, tmp_path_factory.mktemp("db"))
    migrate.upgrade(database.url)
    yield database.url
    database.drop()


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(db_engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    conn = db_engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


def make_settings(database_url: str, var_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mode": Mode.TEST,
        "side": Side.PORTAL,
        "database_url": database_url,
        "var_dir": var_dir,
        "pkcs11_module": "/usr/lib/softhsm/libsofthsm2.so",
        "token_label": "creditgate-test",
        "pin_file": None,
        "secret_key": secrets.token_urlsafe(32),
        "pin_env": "unused-in-this-test",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def memory_provider() -> InMemoryKeyProvider:
    return InMemoryKeyProvider()


@pytest.fixture
def key_provider(service_provider: KeyProvider) -> KeyProvider:
    """The real SoftHSM2 provider (tests.softhsm_fixtures) for everything above unit level."""
    return service_provider


@pytest.fixture
def app(
    database_url: str, connection: Connection, key_provider: KeyProvider, tmp_path: Path
) -> Flask:
    from app.factory import create_app

    return create_app(
        make_settings(database_url, tmp_path), key_provider=key_provider, bind=connection
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" or not report.passed:
        return
    for backend in BACKENDS:
        if (
            f"[{backend}" in report.nodeid
            or f"-{backend}]" in report.nodeid
            or f"-{backend}-" in report.nodeid
        ):
            _backend_passes[backend] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a green run in which one backend passed tests and the other none (always), or in
    which either passed none (under CI=true, where the whole suite runs)."""
    if exitstatus != 0:
        return
    silent = [backend for backend, count in _backend_passes.items() if count == 0]
    ran_any = any(_backend_passes.values())
    if silent and (ran_any or os.environ.get("CI") == "true"):
        session.exitstatus = 1
        print(f"\nno database test passed on {', '.join(silent)}; refusing a green run")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = ", ".join(f"{backend}: {count}" for backend, count in _backend_passes.items())
    terminalreporter.write_line(f"database tests passed per backend: {counts}")
    checked = openapi_check.validated
    terminalreporter.write_line(
        f"responses validated against the OpenAPI document: {sum(checked.values())} "
        f"over {len(checked)} operations"
    )
