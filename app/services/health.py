"""Readiness: the service is ready only if it could seal, find and open right now.

Checks that the schema is at the migration head, that the database answers and still keeps the
query log append-only (`querylog.guards`), and that the HSM
holds and can use the master wrapping key and the blind-index key. Any failure raises (one of
`failures.KEY_FAILURES`/`DATABASE_FAILURES`, or `NotReady`), which the web layer turns into 503.
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from app.migrate import alembic_config
from app.services.querylog.guards import missing_guards
from crypto.keys import KeyProvider, MacKey, WrappingKey

_AAD = b"cg1-readiness"


class NotReady(Exception):
    """A part the service needs is present but not in a usable state."""


def schema_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def check_ready(
    session: Session, provider: KeyProvider, head: str | None, *, role: str | None = None
) -> None:
    current = MigrationContext.configure(session.connection()).get_current_revision()
    if current != head:
        raise NotReady("database schema is not at the migration head")
    missing = missing_guards(session.connection(), role=role)
    if missing:
        raise NotReady("log guards missing: " + "; ".join(missing))
    provider.hmac_sha256(MacKey.BLIND_INDEX, _AAD)
    probe = b"\x00" * 32
    if (
        provider.unwrap(WrappingKey.MASTER, provider.wrap(WrappingKey.MASTER, probe, _AAD), _AAD)
        != probe
    ):
        raise NotReady("master wrapping key did not round-trip")
