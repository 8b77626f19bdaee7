"""The wired parts of one application instance, built by the factory and nowhere else.

The container offers three ways to the database, and services use no other:
- `unit()`: a writing unit of work (an ORM session in one transaction) that commits durably
  when its block ends and rolls back on any exception;
- `snapshot()`: a read-only transaction on a Core connection that sees one committed state;
- `reads()`: single committed reads outside any unit, for the login gate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock, SystemClock
from app.db import WRITE_INTENT
from app.services.auth.passwords import HASHINGS, PasswordHashing
from app.services.intake.ingest import IngestService
from app.services.keys.lifecycle import KeyService
from app.services.querylog.log import QueryLog
from app.settings import Settings
from app.writer_lock import WriterLock
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.catalog import Catalog
from policies.engine import PolicyEngine
from policies.repair import RepairRules, check_catalog, default_repair
from policies.rights import RightsRules, default_rights


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    key_provider: KeyProvider
    cipher: FieldCipher
    catalog: Catalog
    policy: PolicyEngine  # loaded and validated at start-up with the catalog
    writer_lock: WriterLock | None = None  # SQLite only: fair hand-over between writers
    clock: Clock = field(default_factory=SystemClock)  # the one clock of the service

    @property
    def passwords(self) -> PasswordHashing:
        """argon2id under the parameters the settings name."""
        return HASHINGS[self.settings.password_hashing]

    @property
    def rights(self) -> RightsRules:
        """The rules of objections and statements (policies/data/rights.toml)."""
        return default_rights()

    @property
    def repair(self) -> RepairRules:
        """The rules of credit repair (policies/data/repair.toml), checked against the catalog."""
        return check_catalog(default_repair(), self.catalog)

    @property
    def keys(self) -> KeyService:
        return KeyService(self.key_provider, self.cipher)

    def ingest(self) -> IngestService:
        return IngestService(self.keys, self.catalog)

    def query_log(self) -> QueryLog:
        """The query log, signing checkpoints in the HSM per the settings."""
        return QueryLog(
            self.catalog.version,
            self.policy.version,
            signer=self.key_provider,
            every=self.settings.log_checkpoint_every,
            seconds=self.settings.log_checkpoint_seconds,
        )

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One unit of work: an ORM session whose transaction commits when the block ends and
        rolls back on any exception; savepoints inside it work. The commit is durable before
        this returns (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit=on`:
        `app.db`), so anything answered after the block rests on what it wrote.

        On SQLite the unit begins IMMEDIATE (the one write lock from its first statement on),
        and writers queue on the `WriterLock` from BEGIN to COMMIT: the pooled connection is
        taken before that lock and given back after it."""
        with self.engine.connect() as connection:
            connection.execution_options(**{WRITE_INTENT: True})  # SQLite: BEGIN IMMEDIATE
            with self.writer_lock or nullcontext():
                transaction = connection.begin()
                try:
                    with self.sessions(bind=connection) as session:
                        yield session
                        session.flush()
                except BaseException:
                    if transaction.is_active:  # a failed flush has rolled it back already
                        transaction.rollback()
                    raise
                transaction.commit()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only unit on a Core connection: every read in it sees one committed state of
        the database, and it takes no write lock (SQLite: a DEFERRED transaction in WAL mode,
        rolled back; PostgreSQL: REPEATABLE READ, READ ONLY, so a write in it fails). What a
        snapshot reads is plain rows for an answer, never objects to change.

        On PostgreSQL a snapshot that ends normally ends with COMMIT, which in a READ ONLY
        transaction changes nothing: psycopg forgets its prepared statements at every ROLLBACK,
        and the hot reads run prepared from their fifth use on a connection."""
        postgresql = self.engine.dialect.name == "postgresql"
        with self.engine.connect() as connection:
            if postgresql:
                connection.execution_options(**_READ_ONLY_SNAPSHOT)
            transaction = connection.begin()
            try:
                yield connection
            except BaseException:
                transaction.rollback()
                raise
            if postgresql:
                transaction.commit()
            else:
                transaction.rollback()

    @contextmanager
    def reads(self) -> Iterator[Connection]:
        """Committed reads outside any unit of work, for a check of a row or two that runs
        before a request (the login gate's session check). Writes nothing and holds no lock.
        On PostgreSQL the connection is in autocommit: each statement reads the latest
        committed state, with no BEGIN or ROLLBACK round trip around it."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection


_READ_ONLY_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


def container(app: Flask | None = None) -> Container:
    target = app if app is not None else current_app
    found: Container = target.extensions["creditgate"]
    return found
