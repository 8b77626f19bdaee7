"""The wired parts of one application instance, built by the factory and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock, SystemClock
from app.db import WRITE_INTENT
from app.group_commit import GroupCommit
from app.services.intake.ingest import IngestService
from app.services.keys.lifecycle import KeyService
from app.services.querylog.log import QueryLog
from app.settings import Settings
from app.writer_lock import WriterLock
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.catalog import Catalog
from policies.engine import PolicyEngine


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
    group_commit: GroupCommit | None = None  # SQLite only: units sync after the lock is free
    owns_transactions: bool = True  # False when bound to a test's outer transaction
    clock: Clock = field(default_factory=SystemClock)  # the one clock of the service

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
    def unit(self, *, durable_before_answer: bool = False) -> Iterator[Session]:
        """One unit of work with an ORM session: `core_transaction` with a session joined to
        its transaction (savepoints inside it still work), flushed before the unit commits;
        the unit, not the session, commits."""
        with (
            self.core_transaction(durable_before_answer=durable_before_answer) as connection,
            self.orm(connection) as session,
        ):
            yield session

    @contextmanager
    def core_transaction(self, *, durable_before_answer: bool = False) -> Iterator[Connection]:
        """One unit of work on a Core connection: commits if the block succeeds, rolls back
        on any exception, and returns only once the commit is on disk. A unit whose statements
        are all Core (a query's log entry and charge) runs without any ORM session.

        `durable_before_answer` (a request's query unit only): on SQLite the unit returns
        once committed, with its flush started (`GroupCommit.start_durable`); the request's
        answer waits for that flush before it leaves (`app.web.durability`), so the answer is
        built while the disk works.

        On SQLite it holds the write lock only from BEGIN IMMEDIATE to COMMIT: the pooled
        connection is taken before the lock and given back after it, and the unit then waits
        for the disk with the lock released (`app.group_commit`): writers that finish together
        share one flush. If the flush fails, it raises `CommitNotDurable` (the caller answers
        503).
        """
        if not self.owns_transactions:  # bound to a test's transaction: a savepoint in it
            with self.sessions() as session:
                try:
                    yield session.connection()
                except BaseException:
                    session.rollback()
                    raise
                session.commit()
            return
        ticket: int | None = None
        with self.engine.connect() as connection:
            connection.execution_options(**{WRITE_INTENT: True})  # SQLite: BEGIN IMMEDIATE
            with self.writer_lock or nullcontext():
                transaction = connection.begin()
                try:
                    yield connection
                except BaseException:
                    transaction.rollback()
                    raise
                if self.group_commit is not None:
                    ticket = self.group_commit.committing()
                transaction.commit()
        if ticket is not None:
            assert self.group_commit is not None
            if durable_before_answer:
                self.group_commit.start_durable(ticket)
            else:
                self.group_commit.wait_durable(ticket)

    @contextmanager
    def statement_unit(self) -> Iterator[Connection]:
        """PostgreSQL: a unit of work that is exactly one statement, run in autocommit: the
        statement is atomic and commits (durably) when it ends, with no BEGIN or COMMIT round
        trip. Run one statement in it, never two (two would be two units)."""
        if self.engine.dialect.name != "postgresql":
            raise RuntimeError("a one-statement unit needs PostgreSQL's data-modifying CTEs")
        if not self.owns_transactions:
            with self.core_transaction() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    @contextmanager
    def orm(self, connection: Connection) -> Iterator[Session]:
        """An ORM session inside the unit of work running on `connection`: it joins that
        unit's transaction and is flushed when the block ends, so what it changed commits or
        rolls back with the unit. Its `commit()` at the end never commits the unit: SQLAlchemy
        does not pass it on to a transaction the session joined (bound to a test's
        transaction, it releases the session's own savepoint)."""
        with self.sessions(bind=connection) as session:
            yield session
            session.commit()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only unit on a Core connection: every read in it sees one committed state of
        the database, and it takes no write lock (SQLite: a DEFERRED transaction in WAL mode,
        always rolled back; PostgreSQL: REPEATABLE READ, READ ONLY, so a write in it fails).
        No ORM session: what a snapshot reads is plain rows for an answer, never objects to
        change.

        On PostgreSQL the isolation level and read-only flag are connection characteristics
        that psycopg sends with the BEGIN itself (no separate SET TRANSACTION round trip) and
        the pool resets when the connection is returned; a snapshot that ends normally ends
        with COMMIT, which in a READ ONLY transaction changes nothing, because psycopg drops
        its prepared statements at every ROLLBACK."""
        if not self.owns_transactions:  # bound to a test's transaction: read inside it
            with self.sessions() as session:
                yield session.connection()
            return
        read_only = self.engine.dialect.name == "postgresql"
        with self.engine.connect() as connection:
            if read_only:
                connection.execution_options(**_READ_ONLY_SNAPSHOT)
            transaction = connection.begin()
            try:
                yield connection
            except BaseException:
                transaction.rollback()
                raise
            if read_only:
                transaction.commit()
            else:
                transaction.rollback()

    @contextmanager
    def reads(self) -> Iterator[Connection]:
        """Committed reads outside any unit of work, for a check of a row or two that runs
        before a request (the login gate's session check). Writes nothing and holds no lock.
        On PostgreSQL the connection is in autocommit: each statement reads the latest
        committed state, with no BEGIN or ROLLBACK round trip around it."""
        if not self.owns_transactions:  # bound to a test's transaction: read inside it
            with self.sessions() as session:
                yield session.connection()
            return
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection


_READ_ONLY_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


def container(app: Flask | None = None) -> Container:
    target = app if app is not None else current_app
    found: Container = target.extensions["creditgate"]
    return found
