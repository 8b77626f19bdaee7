"""The database's own guards that keep the query log append-only, and the check that they hold.

The log is append-only in the database itself, not only in the code (README, "Database roles"):
- SQLite: a trigger for each of UPDATE and DELETE on `query_log` and `log_checkpoints` aborts
  the statement (migration 0004);
- PostgreSQL: the application role (`CREDITGATE_DATABASE_ROLE`, or `creditgate_app`, which
  migration 0004 creates) holds no UPDATE, DELETE or TRUNCATE on those tables.

Guarantees: `missing_guards` names every guard that is gone or altered (a trigger dropped or
redefined, a role granted what it must not hold, a configured role that does not exist), and
returns nothing when all hold. It reads only the catalog (`sqlite_master`, `pg_roles`,
`has_table_privilege`), never a log entry, and what it returns names guards, never data.
`/readyz` answers 503 and `flask log verify` fails while anything is missing.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

APPEND_ONLY_TABLES = ("query_log", "log_checkpoints")
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
    name = role or APP_ROLE
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": name}
    ).first()
    if exists is None:
        return [] if role is None else [f"the application role {name} does not exist"]
    missing = []
    for table in APPEND_ONLY_TABLES:
        for privilege in FORBIDDEN_PRIVILEGES:
            held = connection.execute(
                text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": name, "table": table, "privilege": privilege},
            ).scalar_one()
            if held:
                missing.append(f"role {name} may {privilege} {table}")
    return missing
