"""Engines and sessions. Services own transactions; models never commit.

Durability comes from the databases' own settings, on every connection of every engine:
- SQLite runs in WAL mode with `synchronous=FULL`: a commit returns only once the write-ahead
  log is synced, so an answer released after its unit committed rests on a durable log entry.
  Foreign keys are on; pysqlite's own implicit transaction handling is switched off, so that
  BEGIN, SAVEPOINT and COMMIT mean what SQLAlchemy says, and a unit of work that writes begins
  IMMEDIATE (it takes the one write lock at BEGIN, waiting instead of failing half-way).
- PostgreSQL (psycopg 3) runs with `synchronous_commit=on` pinned in every connection's startup
  options, which take precedence over a database's or a role's own defaults.
Bound parameters are hidden from every error message and log line.

A SQLite database file is readable by its owner only: `make_engine` creates the file 0600
before SQLite opens it (migrations create its directory 0700), and takes group and other bits off
a file, `-wal` or `-shm` that has them. SQLite creates its `-wal` and `-shm` files with the
database file's permissions, so they are 0600 too whenever they appear.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
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


#: SQLite's companion files, created with the database file's permissions.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private(database_file: Path) -> None:
    """Create `database_file` empty and 0600 if it is missing, and take group and other
    permissions off it and off its companion files. A directory that does not exist is left
    so: opening the database then fails as it would have (`flask db upgrade` creates it)."""
    if not database_file.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database_file, *(Path(f"{database_file}{end}") for end in SQLITE_COMPANIONS)):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            path.chmod(mode & 0o700)


def make_engine(url: str, *, role: str | None = None, **kwargs: Any) -> Engine:
    """An engine whose commits are durable and whose errors and logs never carry bound
    parameters (payloads, hashes).

    `role` (PostgreSQL only, a plain role name): every new connection runs `SET ROLE` to it and
    commits, so the session keeps that role's privileges (e.g. `creditgate_app`, which may
    only INSERT into the query log) whatever the pool later rolls back.
    """
    url = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        database_file = sqlite_file(url)
        if database_file is not None:
            make_private(database_file)
        # the most recently used connection first: within one process, the gate's read, the
        # snapshot and the unit of a request share one connection and its page cache
        kwargs.setdefault("pool_use_lifo", True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args["options"] = " ".join(
        filter(None, [connect_args.get("options"), "-c synchronous_commit=on"])
    )
    engine = create_engine(url, connect_args=connect_args, **kwargs)
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


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (`_sqlite_begin`)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


#: Execution option marking a unit of work that will write: on SQLite it begins IMMEDIATE.
WRITE_INTENT = "creditgate_write_intent"


def _sqlite_begin(conn: Connection) -> None:
    # A unit of work that writes takes the write lock at BEGIN (waiting up to busy_timeout),
    # so it cannot fail half-way with "database is locked" when another writer committed after
    # it read. Read-only transactions begin DEFERRED and never block on writers (WAL).
    immediate = conn.get_execution_options().get(WRITE_INTENT)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
