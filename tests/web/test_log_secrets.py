"""With every logger at DEBUG, a login and a session's use leave no secret in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import migrate
from app.container import container
from app.models import Account, AuthSession
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.fakes import InMemoryKeyProvider
from tests.logins import logged_in, make_account

PASSWORD = "Zq7#unusual-passphrase-for-log-test"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    engine_logger = logging.getLogger("sqlalchemy.engine")
    before = engine_logger.level
    caplog.set_level(logging.DEBUG)
    engine_logger.setLevel(logging.DEBUG)
    yield caplog
    engine_logger.setLevel(before)


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_session_rows_and_password_hashes_never_reach_a_debug_log(
    scratch_database: ScratchDatabase, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    migrate.upgrade(scratch_database.url)
    app = make_app(
        make_settings(scratch_database.url, tmp_path), key_provider=InMemoryKeyProvider()
    )
    account = make_account(app, "log.watcher", password=PASSWORD)
    client, csrf = logged_in(app, account, frozenset({"password", "card"}))
    with client.session_transaction() as cookie:
        session_id = cookie["_user_id"]
    assert client.get("/api/v1/auth/session").status_code == 200
    with container(app).sessions() as db:
        stored_hash = db.get(Account, account.id).password_hash  # type: ignore[union-attr]
        assert db.query(AuthSession).count() == 1
    container(app).engine.dispose()
    assert "FROM auth_sessions" in debug_logs.text  # statements were logged: really at DEBUG
    for secret in (PASSWORD, stored_hash, csrf, session_id):
        assert secret
        assert secret not in debug_logs.text
