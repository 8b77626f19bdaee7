"""A dropped or weakened append-only guard on the query log or the login-attempt log is
noticed: `/readyz` answers 503 and `flask log verify` fails naming it (SQLite triggers;
PostgreSQL privileges of the application role and the triggers on login_attempts). The guard
is changed inside the test's transaction, so it is restored when the test ends."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import text

from app.container import container
from app.services.querylog.guards import SQLITE_TRIGGERS, missing_guards
from crypto.keys import KeyProvider


def _dialect(app: Flask) -> str:
    return container(app).engine.dialect.name


def _change(app: Flask, *statements: str) -> None:
    with container(app).unit() as db:
        for statement in statements:
            db.execute(text(statement))


def _verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["log", "verify"])
    return result.exit_code, result.output


def test_a_migrated_database_keeps_every_guard(app: Flask) -> None:
    with container(app).snapshot() as db:
        assert missing_guards(db) == []
    assert app.test_client().get("/readyz").status_code == 200
    code, output = _verify(app)
    assert code == 0, output
    assert "guard" not in output


def _trigger(name: str) -> str:
    return SQLITE_TRIGGERS[name]


#: dialect -> (what weakens a guard, what restores it, what `flask log verify` names)
WEAKENINGS: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], str]]] = {
    "sqlite": [
        *(
            ((f"DROP TRIGGER {name}",), (_trigger(name),), f"trigger {name} is missing")
            for name in sorted(SQLITE_TRIGGERS)
        ),
        (
            (
                "DROP TRIGGER query_log_no_delete",
                "CREATE TRIGGER query_log_no_delete BEFORE DELETE ON query_log BEGIN SELECT 1; END",
            ),
            ("DROP TRIGGER query_log_no_delete", _trigger("query_log_no_delete")),
            "trigger query_log_no_delete is not the append-only definition",
        ),
    ],
    "postgresql": [
        (
            (f"GRANT {privilege} ON {table} TO creditgate_app",),
            (f"REVOKE {privilege} ON {table} FROM creditgate_app",),
            f"role creditgate_app may {privilege} {table}",
        )
        for table in ("query_log", "log_checkpoints", "login_attempts")
        for privilege in ("UPDATE", "DELETE", "TRUNCATE")
    ]
    + [
        (
            (f"ALTER TABLE login_attempts DISABLE TRIGGER {name}",),
            (f"ALTER TABLE login_attempts ENABLE TRIGGER {name}",),
            f"trigger {name} is disabled",
        )
        for name in ("login_attempts_no_change", "login_attempts_no_truncate")
    ]
    + [
        (
            ("DROP TRIGGER login_attempts_no_change ON login_attempts",),
            (
                "CREATE TRIGGER login_attempts_no_change BEFORE UPDATE OR DELETE ON login_attempts"
                " FOR EACH ROW EXECUTE FUNCTION login_attempts_append_only()",
            ),
            "trigger login_attempts_no_change is missing",
        )
    ],
}


def test_every_weakened_guard_is_not_ready_and_fails_verification(app: Flask) -> None:
    client = app.test_client()
    for weaken, restore, named in WEAKENINGS[_dialect(app)]:
        _change(app, *weaken)
        assert client.get("/readyz").status_code == 503, named
        code, output = _verify(app)
        assert code == 1, named
        assert "query log intact" in output  # the chain itself is fine
        assert f"append-only guard missing: {named}" in output
        _change(app, *restore)
        assert client.get("/readyz").status_code == 200, named
        assert _verify(app)[0] == 0, named


def test_a_configured_role_that_does_not_exist_is_a_missing_guard(
    app: Flask, key_provider: KeyProvider, tmp_path: Path
) -> None:
    """PostgreSQL: the configured role must exist; SQLite has no roles and ignores it."""
    parts = container(app)
    with parts.snapshot() as db:
        missing = missing_guards(db, role="creditgate_nobody")
    expected = {
        "sqlite": [],
        "postgresql": ["the application role creditgate_nobody does not exist"],
    }
    assert missing == expected[_dialect(app)]


def test_production_is_not_ready_when_the_login_role_is_a_superuser(
    database_url: str, key_provider: KeyProvider, tmp_path: Path
) -> None:
    """The suite's PostgreSQL login is a superuser: exactly what production must refuse (it
    could RESET ROLE and rewrite the logs). SQLite has no roles."""
    from app.services.querylog.guards import privileged_login
    from app.settings import Mode
    from tests.conftest import make_app, make_settings

    settings = make_settings(
        database_url, tmp_path, mode=Mode.PRODUCTION, password_hashing="standard"
    )
    app = make_app(settings, key_provider=key_provider)
    with container(app).snapshot() as db:
        found = privileged_login(db)
    answer = app.test_client().get("/readyz")
    if _dialect(app) == "postgresql":
        assert found is not None
        assert "SUPERUSER" in found
        assert answer.status_code == 503
    else:
        assert found is None
        assert answer.status_code == 200
