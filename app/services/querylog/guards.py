"""The database's own guards that keep the logs append-only, and the check that they hold.

The query log (`query_log`, `log_checkpoints`) and the login-attempt log (`login_attempts`) are
append-only in the database itself, not only in the code (README, "Database roles"):
- SQLite: a trigger for each of UPDATE and DELETE on each table aborts the statement
  (migrations 0004 and 0030);
- PostgreSQL: the application role (`CREDITGATE_DATABASE_ROLE`, or `creditgate_app`, which
  migration 0004 creates) holds no UPDATE, DELETE or TRUNCATE on those tables; and
  `login_attempts` carries triggers that refuse UPDATE, DELETE and TRUNCATE whoever runs them
  (migration 0030), which must exist and be enabled.

Guarantees: `missing_guards` names every guard that is gone or altered (a trigger dropped or
redefined, a role granted what it must not hold, a configured role that does not exist), and
returns nothing when all hold. It reads only the catalog (`sqlite_master`, `pg_roles`,
`has_table_privilege`), never a log entry, and what it returns names guards, never data.
`/readyz` answers 503 and `flask log verify` fails while anything is missing.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

APPEND_ONLY_TABLES = ("query_log", "log_checkpoints", "login_attempts")
#: PostgreSQL triggers (migration 0030) that refuse changes whoever runs them.
PG_TRIGGERS = {
    "login_attempts_no_change": "login_attempts",
    "login_attempts_no_truncate": "login_attempts",
}
APP_ROLE = "creditgate_app"
FORBIDDEN_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE")


def _trigger_sql(table: str, verb: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    )


#: SQLite: trigger name -> its definition, exactly as migration 0004 creates it.
SQLITE_TRIGGERS = {
    f"{table}_no_{verb.lower()}": _trigger_sql(table, verb)
    for table in APPEND_ONLY_TABLES
    for verb in ("UPDATE", "DELETE")
}


def _normalised(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").casefold()


def missing_guards(connection: Connection, *, role: str | None = None) -> list[str]:
    """What no longer guards the log, in words (empty when every guard holds).

    `role` is the configured application role on PostgreSQL (None: `creditgate_app`, checked
    if it exists); it is ignored on SQLite."""
    if connection.dialect.name == "sqlite":
        return _missing_triggers(connection)
    if connection.dialect.name == "postgresql":
        return _missing_revocations(connection, role)
    return [f"no known append-only guard for the {connection.dialect.name} database"]


def _missing_triggers(connection: Connection) -> list[str]:
    rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    found: dict[str, str | None] = {name: sql for name, sql in rows}
    missing = []
    for name, sql in SQLITE_TRIGGERS.items():
        if name not in found:
            missing.append(f"trigger {name} is missing")
        elif _normalised(found[name] or "") != _normalised(sql):
            missing.append(f"trigger {name} is not the append-only definition")
    return missing


def _missing_revocations(connection: Connection, role: str | None) -> list[str]:
    missing = _missing_pg_triggers(connection)
    name = role or APP_ROLE
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": name}
    ).first()
    if exists is None:
        return (
            missing if role is None else [*missing, f"the application role {name} does not exist"]
        )
    for table in APPEND_ONLY_TABLES:
        for privilege in FORBIDDEN_PRIVILEGES:
            held = connection.execute(
                text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": name, "table": table, "privilege": privilege},
            ).scalar_one()
            if held:
                missing.append(f"role {name} may {privilege} {table}")
    return missing


def privileged_login(connection: Connection) -> str | None:
    """PostgreSQL: why the login role is too powerful for production (a superuser, or one that
    may create roles or databases, or bypass row security could `RESET ROLE` and rewrite the
    logs), or None. Always None on SQLite."""
    if connection.dialect.name != "postgresql":
        return None
    row = connection.execute(
        text(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
            " FROM pg_roles WHERE rolname = session_user"
        )
    ).first()
    if row is None:
        return None
    name, superuser, createrole, createdb, bypassrls = row
    powers = [
        power
        for power, held in (
            ("SUPERUSER", superuser),
            ("CREATEROLE", createrole),
            ("CREATEDB", createdb),
            ("BYPASSRLS", bypassrls),
        )
        if held
    ]
    return f"the database login role {name} holds {', '.join(powers)}" if powers else None


def _missing_pg_triggers(connection: Connection) -> list[str]:
    rows = connection.execute(
        text(
            "SELECT t.tgname, c.relname, t.tgenabled FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgname = ANY(:names)"
        ),
        {"names": list(PG_TRIGGERS)},
    )
    found = {name: (table, enabled) for name, table, enabled in rows}
    missing = []
    for name, table in PG_TRIGGERS.items():
        if name not in found or found[name][0] != table:
            missing.append(f"trigger {name} is missing")
        elif found[name][1] == "D":
            missing.append(f"trigger {name} is disabled")
    return missing
