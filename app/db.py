"""Engines and sessions. Services own transactions; models never commit.

SQLite runs in WAL mode with foreign keys on, and every commit is durable before anything
that rests on it is answered (a query log that must not lose entries needs a durable commit):
`synchronous=FULL`, or for the service's own engine `synchronous=NORMAL` with the syncing done
by `app.group_commit`; pysqlite's own implicit transaction handling is switched
off so that BEGIN, SAVEPOINT and COMMIT mean what SQLAlchemy says, and units of work that write
begin IMMEDIATE (one writer at a time, waiting instead of failing). PostgreSQL is used through
psycopg 3. Bound parameters are hidden from every error message and log line.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.orm import Session, sessionmaker


class _NoRowValues(logging.Filter):
    """Drop SQLAlchemy's DEBUG records of result rows: they would carry password hashes,
    CSRF tokens and other column values into the log. Statements are still logged, and bound
    parameters are hidden by `hide_parameters`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in ("Row %r", "Col %r")


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoRowValues())


def normalise_url(url: str) -> str:
    """Route plain postgresql:// URLs to psycopg 3 (the driver we ship)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_file(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL, or None (PostgreSQL, in-memory)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:":
        return None
    return Path(path)


def make_engine(
    url: str,
    *,
    role: str | None = None,
    sqlite_synchronous: str = "FULL",
    **kwargs: Any,
) -> Engine:
    """An engine whose errors and logs never carry bound parameters (payloads, hashes).

    `role` (PostgreSQL only, a plain role name): every new connection runs `SET ROLE` to it and
    commits, so the session keeps that role's privileges (e.g. `creditgate_app`, which may
    only INSERT into the query log) whatever the pool later rolls back.

    `sqlite_synchronous`: FULL (every commit waits for the disk) unless the caller syncs
    itself: the service's engine runs NORMAL under `app.group_commit`, which syncs after
    each unit of work and before every answer. Any other engine (migrations, the command
    line's scratch engines, the benchmarks' setup) keeps FULL.
    """
    if sqlite_synchronous not in _SYNCHRONOUS:
        raise ValueError("sqlite_synchronous is FULL or NORMAL")
    url = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        # the most recently used connection first: within one process, the gate's read, the
        # snapshot and the unit of a request share one connection and its page cache
        kwargs.setdefault("pool_use_lifo", True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_connect(sqlite_synchronous))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    if role is not None:
        if not _ROLE_NAME.match(role):
            raise ValueError("a database role is a plain lower-case name")
        event.listen(engine, "connect", _set_role(role))
    return engine


#: A pooled connection unused for this long is pinged before it is handed out again.
PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling without a round trip per checkout: a connection that
    has been idle in the pool for `PING_AFTER_IDLE_S` (a database restart, an idle timeout
    in between) is pinged first, and a dead one is replaced before anyone uses it. One that
    was in use a moment ago is handed out as it is; if the database went away in that moment,
    the statement fails, the caller answers 503 (fail closed) and SQLAlchemy invalidates the
    pool, so the next checkout connects afresh."""
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure means: do not hand it out
            raise DisconnectionError("pooled connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _set_role(role: str) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET ROLE "{role}"')
        cursor.close()
        dbapi_connection.commit()  # a SET inside a rolled-back transaction would be undone

    return connect


_SYNCHRONOUS = ("FULL", "NORMAL")


def _sqlite_connect(synchronous: str) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of _SYNCHRONOUS
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return connect


#: Execution option marking a unit of work that will write: on SQLite it begins IMMEDIATE.
WRITE_INTENT = "creditgate_write_intent"


def _sqlite_begin(conn: Connection) -> None:
    # A unit of work that writes takes the write lock at BEGIN (waiting up to busy_timeout),
    # so it cannot fail half-way with "database is locked" when another writer committed after
    # it read. Read-only sessions begin DEFERRED and never block on writers (WAL).
    # Every transaction of every request begins here, so the statement goes straight to the
    # driver's cursor (not through Core's execution machinery); a driver error is raised as
    # Core would raise it (OperationalError: 503).
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_INTENT) else "BEGIN"
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statement)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise as_core_error(statement, exc, conn.dialect) from exc
    finally:
        cursor.close()


def as_core_error(statement: str, exc: Exception, dialect: Dialect) -> StatementError:
    """A driver error as `Connection.execute` raises it (OperationalError, IntegrityError,
    ...), for statements run on the driver's cursor; it never carries their parameters."""
    return DBAPIError.instance(
        statement, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
