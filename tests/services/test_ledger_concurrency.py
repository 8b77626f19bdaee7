"""20 concurrent debits against a balance for 7: exactly 7 succeed, the balance ends at 0."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import LedgerAccount, LedgerEntry
from app.services.billing.ledger import InsufficientFunds, LedgerService
from tests.conftest import BACKENDS, ScratchDatabase
from tests.races import race
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

    def debit(n: int) -> Callable[[], str]:
        def attempt() -> str:
            with sessions() as db:
                db.connection(execution_options={WRITE_INTENT: True})
                try:
                    ledger.debit(db, institution_id=bank_id, amount_fen=PRICE, reference=f"q{n}")
                except InsufficientFunds:
                    db.rollback()
                    return "refused"
                db.commit()
                return "debited"

        return attempt

    outcomes = race(CONCURRENT, debit)
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
    assert outcomes.count("debited") == 7
    assert outcomes.count("refused") == CONCURRENT - 7
    assert final == 0
    assert debits == 7
    assert lowest == 0
