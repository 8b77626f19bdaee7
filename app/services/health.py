"""Readiness: the service is ready only if it could seal, find and open right now.

Checks that the schema is at the migration head, that the database answers and still keeps the
logs append-only (`querylog.guards`), and that the HSM holds and can use the master wrapping key
and the blind-index key. Any failure raises (one of `failures.KEY_FAILURES`/`DATABASE_FAILURES`,
or `NotReady`), which the web layer turns into 503.

Anonymous callers must not be able to make the HSM work (its one lock serialises every
disclosure): the HSM probe (three operations) runs at most once per `HSM_PROBE_SECONDS` per
process (`HsmProbe`), and a failed probe is answered from memory for `FAILED_PROBE_SECONDS`
before it is tried again. The database checks (catalog reads, no HSM) run on every call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from app.migrate import alembic_config
from app.services.querylog.guards import missing_guards, privileged_login
from crypto.keys import KeyProvider, MacKey, WrappingKey

_AAD = b"cg1-readiness"
HSM_PROBE_SECONDS = 30.0
FAILED_PROBE_SECONDS = 5.0


class NotReady(Exception):
    """A part the service needs is present but not in a usable state."""


def schema_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


class HsmProbe:
    """The HSM part of readiness, remembered: a success for `HSM_PROBE_SECONDS`, a failure
    for `FAILED_PROBE_SECONDS` (answered as `NotReady` without touching the HSM)."""

    def __init__(self, provider: KeyProvider, clock: Callable[[], float] = time.monotonic) -> None:
        self._provider = provider
        self._clock = clock
        self._lock = threading.Lock()
        self._until = float("-inf")
        self._failed = False
        self.probes = 0  # how many times the HSM was actually asked

    def check(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._until:
                if self._failed:
                    raise NotReady("the HSM failed its last readiness probe")
                return
            self.probes += 1
            try:
                _probe(self._provider)
            except Exception:
                self._failed, self._until = True, now + FAILED_PROBE_SECONDS
                raise
            self._failed, self._until = False, now + HSM_PROBE_SECONDS


def check_ready(
    session: Session,
    provider: KeyProvider,
    head: str | None,
    *,
    role: str | None = None,
    probe: HsmProbe | None = None,
    production: bool = False,
) -> None:
    current = MigrationContext.configure(session.connection()).get_current_revision()
    if current != head:
        raise NotReady("database schema is not at the migration head")
    missing = missing_guards(session.connection(), role=role)
    if missing:
        raise NotReady("log guards missing: " + "; ".join(missing))
    too_powerful = privileged_login(session.connection()) if production else None
    if too_powerful is not None:
        raise NotReady(too_powerful + ": production connects as a least-privilege role")
    if probe is not None:
        probe.check()
    else:
        _probe(provider)


def _probe(provider: KeyProvider) -> None:
    provider.hmac_sha256(MacKey.BLIND_INDEX, _AAD)
    probe = b"\x00" * 32
    if (
        provider.unwrap(WrappingKey.MASTER, provider.wrap(WrappingKey.MASTER, probe, _AAD), _AAD)
        != probe
    ):
        raise NotReady("master wrapping key did not round-trip")
