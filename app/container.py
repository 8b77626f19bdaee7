"""The wired parts of one application instance, built by the factory and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.db import WRITE_INTENT
from app.services.ingest import IngestService
from app.services.keys import KeyService
from app.services.query_log import QueryLog
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
    owns_transactions: bool = True  # False when bound to a test's outer transaction

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
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits if the block succeeds, rolls back on any exception.

        On SQLite it holds the write lock from its first statement (BEGIN IMMEDIATE).
        """
        with self.writer_lock or nullcontext(), self.sessions() as session:
            session.connection(execution_options={WRITE_INTENT: True})
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            session.commit()

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only unit: every read in it sees one committed state of the database, and
        it takes no write lock (SQLite: a DEFERRED transaction in WAL mode; PostgreSQL:
        REPEATABLE READ, READ ONLY, so a write in it fails). Always rolled back."""
        with self.sessions() as session:
            if self.owns_transactions and self.engine.dialect.name == "postgresql":
                session.execute(_READ_ONLY_SNAPSHOT)
            try:
                yield session
            finally:
                session.rollback()


_READ_ONLY_SNAPSHOT = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def container(app: Flask | None = None) -> Container:
    target = app if app is not None else current_app
    found: Container = target.extensions["creditgate"]
    return found
