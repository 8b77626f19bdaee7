"""The institution prepaid ledger: every movement a row, the balance never negative."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import LedgerAccount, LedgerEntry
from app.services.billing.ledger import InsufficientFunds, LedgerError, LedgerService
from tests.services.billing_helpers import add_institution


def test_top_up_then_debit_moves_the_balance_and_writes_a_row_each(app: Flask) -> None:
    ledger = LedgerService()
    with container(app).unit() as db:
        bank = add_institution(db)
        top = ledger.top_up(
            db, institution_id=bank.id, amount_fen=5000, reference="RCPT-1", created_by="c1"
        )
        debit = ledger.debit(db, institution_id=bank.id, amount_fen=1200, reference="report-1")
        assert (top.amount_fen, top.balance_after, top.kind) == (5000, 5000, "topup")
        assert (debit.amount_fen, debit.balance_after, debit.kind) == (-1200, 3800, "debit")
        assert ledger.balance(db, bank.id) == 3800
        assert [e.kind for e in ledger.entries(db, bank.id)] == ["debit", "topup"]


def test_a_debit_beyond_the_balance_is_refused_and_writes_nothing(app: Flask) -> None:
    ledger = LedgerService()
    with container(app).unit() as db:
        bank = add_institution(db)
        ledger.top_up(db, institution_id=bank.id, amount_fen=999, reference="R", created_by="c")
        with pytest.raises(InsufficientFunds) as refused:
            ledger.debit(db, institution_id=bank.id, amount_fen=1000, reference="report")
        assert refused.value.balance_fen == 999
        assert ledger.balance(db, bank.id) == 999
        rows = db.scalar(select(func.count()).where(LedgerEntry.institution_id == bank.id))
        assert rows == 1
        # exactly the balance is fine, and leaves zero (never below)
        ledger.debit(db, institution_id=bank.id, amount_fen=999, reference="report")
        assert ledger.balance(db, bank.id) == 0
        with pytest.raises(InsufficientFunds):
            ledger.debit(db, institution_id=bank.id, amount_fen=1, reference="report")


def test_an_institution_without_a_ledger_account_cannot_be_debited(app: Flask) -> None:
    with container(app).unit() as db:
        bank = add_institution(db)
        with pytest.raises(InsufficientFunds):
            LedgerService().debit(db, institution_id=bank.id, amount_fen=1, reference="r")
        assert db.get(LedgerAccount, bank.id) is None


@pytest.mark.parametrize("amount", [0, -5, True, 10**12])
def test_malformed_amounts_are_refused(app: Flask, amount: int) -> None:
    with container(app).unit() as db:
        bank = add_institution(db)
        with pytest.raises(LedgerError):
            LedgerService().top_up(
                db, institution_id=bank.id, amount_fen=amount, reference="r", created_by="c"
            )
        with pytest.raises(LedgerError):
            LedgerService().debit(db, institution_id=bank.id, amount_fen=amount, reference="r")


def test_flask_billing_top_up_records_a_row_and_refuses_bad_input(app: Flask) -> None:
    with container(app).unit() as db:
        bank = add_institution(db)
        client_id, bank_id = bank.client_id, bank.id
    runner = app.test_cli_runner()
    done = runner.invoke(args=["billing", "top-up", client_id, "12000", "--reference", "R-9"])
    assert done.exit_code == 0, done.output
    assert "balance 12000 fen" in done.output
    refused = runner.invoke(args=["billing", "top-up", client_id, "0", "--reference", "R-10"])
    assert refused.exit_code != 0
    assert "amount_fen" in refused.output
    unknown = runner.invoke(args=["billing", "top-up", "nobody", "5", "--reference", "R"])
    assert unknown.exit_code != 0
    assert "no institution" in unknown.output
    shown = runner.invoke(args=["billing", "ledger", client_id])
    assert "balance 12000 fen" in shown.output
    assert "R-9" in shown.output
    with container(app).unit() as db:
        assert LedgerService().balance(db, bank_id) == 12000
