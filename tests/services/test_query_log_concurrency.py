"""Appends on committed transactions from many threads: gap-free sequence, one valid chain,
checkpoints that verify."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from itertools import pairwise

import pytest
from sqlalchemy import Engine, select

from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import Account, LogCheckpoint, QueryLogEntry, ReportAllowance
from app.services.billing.allowances import AllowanceService, free_report_key, free_report_taken
from app.services.querylog.append_pg import GuardedAppend
from app.services.querylog.log import QueryAttempt, QueryLog
from app.services.querylog.verify import VerifyReport, verify_log
from crypto.keys import KeyProvider, SigningKey
from tests.conftest import BACKENDS, ScratchDatabase
from tests.races import race
from tests.services.test_query_log import attempt

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


GUARDED_RACERS = 12
GUARDED_EACH = 4
GUARDED_EVERY = 5


@pytest.mark.parametrize("scratch_database", ["postgresql"], indirect=True)
def test_one_statement_appends_racing_unit_appends_keep_the_chain_and_the_checkpoints(
    scratch_database: ScratchDatabase, key_provider: KeyProvider
) -> None:
    """Free reports taken and logged as one autocommit statement (`GuardedAppend`), racing
    the appends of ordinary units as the own report mixes them: one gap-free chain that
    verifies, every free report counted once, and checkpoints never further apart than the
    interval plus the entries that raced past it (the statement never signs; when it finds a
    checkpoint due it writes nothing and the unit appends and signs)."""
    upgrade(scratch_database.url)
    engine = make_engine(scratch_database.url, pool_size=GUARDED_RACERS, max_overflow=0)
    sessions = make_session_factory(engine)
    log = QueryLog("cat-v", "pol-v", signer=key_provider, every=GUARDED_EVERY, seconds=3600)
    free_report_and_entry = GuardedAppend(free_report_taken)
    accounts = [uuid.uuid4() for _ in range(GUARDED_RACERS)]
    with sessions() as db:
        db.add_all(
            Account(id=account, username=f"racer-{account.hex}", kind="subject")
            for account in accounts
        )
        db.commit()
    in_one_statement: list[int] = []

    def worker(n: int) -> Callable[[], None]:
        def reports() -> None:
            for i in range(GUARDED_EACH):
                entry = attempt(actor_ref=f"acct-{n}-{i}")
                key = free_report_key(accounts[n], 2026, limit=1000)
                with engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                    if log.append_if(connection, entry, free_report_and_entry, key) is not None:
                        in_one_statement.append(n)
                        continue
                with sessions() as db:  # a checkpoint was due: the unit takes, appends, signs
                    assert AllowanceService().take_free_report(
                        db, account_id=accounts[n], year=2026, limit=1000
                    )
                    log.append(db, entry)
                    db.commit()

        return reports

    race(GUARDED_RACERS, worker)
    total = GUARDED_RACERS * GUARDED_EACH
    with sessions() as db:
        seqs = list(db.scalars(select(QueryLogEntry.seq).order_by(QueryLogEntry.seq)))
        used = dict(db.execute(select(ReportAllowance.account_id, ReportAllowance.used)).all())
        signed = list(db.scalars(select(LogCheckpoint.seq).order_by(LogCheckpoint.seq)))
    report = _verified(engine, key_provider)
    assert seqs == list(range(1, total + 1))
    assert used == dict.fromkeys(accounts, GUARDED_EACH)
    assert report.problem is None
    assert report.entries == total
    assert 0 < len(in_one_statement) < total  # both paths ran
    gaps = [later - earlier for earlier, later in pairwise([0, *signed])]
    assert max(gaps) <= GUARDED_EVERY + GUARDED_RACERS - 1
    assert total - signed[-1] < GUARDED_EVERY + GUARDED_RACERS


def _verified(engine: Engine, key_provider: KeyProvider) -> VerifyReport:
    """`flask log verify` over the scratch database; the engine is disposed of."""
    try:
        with engine.connect() as conn:
            return verify_log(conn, key_provider.public_key_der(SigningKey.LOG_CHECKPOINT))
    finally:
        engine.dispose()
