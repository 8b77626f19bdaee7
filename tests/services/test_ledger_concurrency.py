"""20 concurrent debits against a balance for 7: exactly 7 succeed, the balance ends at 0."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import LedgerAccount, LedgerEntry
from app.services.ledger import InsufficientFunds, LedgerService
from tests.conftest import BACKENDS, ScratchDatabase
from tests.services.billing_helpers import add_institution

CONCURRENT = 20
PRICE = 300


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_concurrent_debits_never_overdraw(scratch_database: ScratchDatabase) -> None:
    upgrade(scratch_database.url)
    engine = make_engine(scratch_database.url, pool_size=CONCURRENT, max_overflow=0)
    sessions = make_session_factory(engine)
    ledger = LedgerService()
    with sessions() as db:
        bank = add_institution(db)
        ledger.top_up(
            db, institution_id=bank.id, amount_fen=7 * PRICE, reference="seed", created_by="t"
        )
        db.commit()
        bank_id = bank.id
    start = threading.Barrier(CONCURRENT)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def debit(n: int) -> None:
        try:
            start.wait()
            with sessions() as db:
                db.connection(execution_options={WRITE_INTENT: True})
                try:
                    ledger.debit(db, institution_id=bank_id, amount_fen=PRICE, reference=f"q{n}")
                except InsufficientFunds:
                    db.rollback()
                    outcomes.append("refused")
                    return
                db.commit()
                outcomes.append("debited")
        except BaseException as exc:  # noqa: BLE001 - collected, asserted empty below
            errors.append(exc)

    threads = [threading.Thread(target=debit, args=(n,)) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as db:
        balance = db.get(LedgerAccount, bank_id)
        debits = db.scalar(
            select(func.count()).where(
                LedgerEntry.institution_id == bank_id, LedgerEntry.kind == "debit"
            )
        )
        lowest = db.scalar(select(func.min(LedgerEntry.balance_after)))
        final = balance.balance_fen if balance is not None else None
    engine.dispose()
    assert errors == []
    assert outcomes.count("debited") == 7
    assert outcomes.count("refused") == CONCURRENT - 7
    assert final == 0
    assert debits == 7
    assert lowest == 0
