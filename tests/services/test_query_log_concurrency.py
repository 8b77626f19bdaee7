"""Appends on committed transactions from many threads: gap-free sequence, one valid chain,
checkpoints that verify."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import QueryLogEntry
from app.services.querylog.log import QueryAttempt, QueryLog
from app.services.querylog.verify import VerifyReport, verify_log
from crypto.keys import KeyProvider, SigningKey
from tests.conftest import BACKENDS, ScratchDatabase
from tests.races import race

CONCURRENT = 16
EACH = 3


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_concurrent_appends_form_one_gap_free_chain(
    scratch_database: ScratchDatabase, key_provider: KeyProvider
) -> None:
    upgrade(scratch_database.url)
    engine = make_engine(scratch_database.url, pool_size=CONCURRENT, max_overflow=0)
    sessions = make_session_factory(engine)
    log = QueryLog("cat-v", "pol-v", signer=key_provider, every=5, seconds=3600)

    def worker(n: int) -> Callable[[], None]:
        def appends() -> None:
            for i in range(EACH):
                with sessions() as db:
                    db.connection(execution_options={WRITE_INTENT: True})
                    log.append(
                        db,
                        QueryAttempt(
                            action="self:report:read",
                            decision="allowed",
                            reason="ok",
                            actor_kind="subject",
                            actor_ref=f"acct-{n}-{i}",
                            request_id=str(uuid.uuid4()),
                            client_address="198.51.100.7",
                            subject_bidx=hashlib.sha256(f"{n}".encode()).digest(),
                        ),
                    )
                    db.commit()

        return appends

    race(CONCURRENT, worker)
    total = CONCURRENT * EACH
    with sessions() as db:
        seqs = list(db.scalars(select(QueryLogEntry.seq).order_by(QueryLogEntry.seq)))
        actors = set(db.scalars(select(QueryLogEntry.actor_ref)))
    assert seqs == list(range(1, total + 1))
    assert len(actors) == total  # every attempt is there exactly once
    report = _verified(engine, key_provider)
    assert report.problem is None
    assert report.entries == total
    assert report.checkpoints >= total // 5


def _verified(engine: Engine, key_provider: KeyProvider) -> VerifyReport:
    """`flask log verify` over the scratch database; the engine is disposed of."""
    try:
        with engine.connect() as conn:
            return verify_log(conn, key_provider.public_key_der(SigningKey.LOG_CHECKPOINT))
    finally:
        engine.dispose()
