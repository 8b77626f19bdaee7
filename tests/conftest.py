"""Shared fixtures: every database test runs on SQLite *and* PostgreSQL, each on a database of
its own, cloned from one migrated template per backend and run: the application under test
commits for real, through the production commit path.

PostgreSQL must answer (make test starts it): an unreachable server is an error, never a skip,
and in CI a run in which either backend executed no test fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, text

from app import migrate
from app.db import make_engine
from app.settings import Mode, Settings, Side
from crypto.keys import KeyProvider
from tests import openapi_check
from tests.clocks import MovableClock
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

    def clone(self, directory: Path) -> ScratchDatabase:
        """A new database holding what this one holds (a file copy on SQLite; a template copy
        on PostgreSQL, which needs this one to have no connection open)."""
        copy = ScratchDatabase.__new__(ScratchDatabase)
        copy.backend = self.backend
        if self._name is None:
            source = Path(self.url.removeprefix("sqlite:///"))
            target = directory / f"cg-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(source, target)
            copy.url, copy._name = f"sqlite:///{target}", None
            return copy
        copy._name = f"creditgate_test_{secrets.token_hex(6)}"
        admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(
                    text(f'CREATE DATABASE "{copy._name}" TEMPLATE "{self._name}" STRATEGY WAL_LOG')
                )
        finally:
            admin.dispose()
        copy.url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{copy._name}"
        return copy

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
def template_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScratchDatabase]:
    """A database migrated to head, once per backend and run: the template of every test's."""
    database = ScratchDatabase(request.param, tmp_path_factory.mktemp("db"))
    migrate.upgrade(database.url)
    yield database
    database.drop()


@pytest.fixture
def database_url(template_database: ScratchDatabase, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, migrated to head."""
    database = template_database.clone(tmp_path)
    yield database.url
    database.drop()


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(db_engine: Engine) -> Iterator[Connection]:
    """A connection to the test's database inside a transaction rolled back after the test
    (for tests of services below the application; an app under test does not see it)."""
    conn = db_engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def clock() -> MovableClock:
    """The application's clock: the system's until the test moves it."""
    return MovableClock()


def make_settings(database_url: str, var_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mode": Mode.TEST,
        "side": Side.COMBINED,
        "database_url": database_url,
        "var_dir": var_dir,
        "pkcs11_module": "/usr/lib/softhsm/libsofthsm2.so",
        "token_label": "creditgate-test",
        "pin_file": None,
        "secret_key": secrets.token_urlsafe(32),
        "pin_env": "unused-in-this-test",
        "password_hashing": "fast",  # tests/services/test_accounts.py holds the standard one
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


_MADE: list[Flask] = []


def make_app(settings: Settings, **kwargs: Any) -> Flask:
    """`create_app`, whose engine is disposed of when the test ends (no connection is left to
    the garbage collector)."""
    from app.factory import create_app

    application = create_app(settings, **kwargs)
    _MADE.append(application)
    return application


@pytest.fixture(autouse=True)
def _dispose_apps() -> Iterator[None]:
    yield
    from app.container import container

    while _MADE:
        container(_MADE.pop()).engine.dispose()


@pytest.fixture
def app(database_url: str, key_provider: KeyProvider, clock: MovableClock, tmp_path: Path) -> Flask:
    """The application on the test's own database, committing for real."""
    return make_app(make_settings(database_url, tmp_path), key_provider=key_provider, clock=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def _openapi_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    """The operations whose answers this test validated, carried on its report (so that the
    run's summary counts them also when the tests ran in pytest-xdist workers)."""
    before = openapi_check.validated.copy()
    yield
    for operation, count in (openapi_check.validated - before).items():
        request.node.user_properties.append(("openapi", (operation, count)))


_validated: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == "openapi":
            operation, count = value
            _validated[operation] += count
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
    if exitstatus != 0 or hasattr(session.config, "workerinput"):
        return  # under pytest-xdist the controller sees every worker's reports and decides
    silent = [backend for backend, count in _backend_passes.items() if count == 0]
    ran_any = any(_backend_passes.values())
    if silent and (ran_any or os.environ.get("CI") == "true"):
        session.exitstatus = 1
        print(f"\nno database test passed on {', '.join(silent)}; refusing a green run")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = ", ".join(f"{backend}: {count}" for backend, count in _backend_passes.items())
    terminalreporter.write_line(f"database tests passed per backend: {counts}")
    checked = _validated
    terminalreporter.write_line(
        f"responses validated against the OpenAPI document: {sum(checked.values())} "
        f"over {len(checked)} operations"
    )
