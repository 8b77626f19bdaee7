"""Institution prepaid accounts, kept as a ledger.

Guarantees:
- every movement is one `ledger_entries` row (signed amount, balance after it, kind,
  reference, who made it); the balance on `ledger_accounts` always equals the last
  entry's `balance_after`;
- the balance never goes negative, even under concurrent debits: each movement locks the
  institution's ledger row (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite the unit of work
  already holds the write lock from BEGIN IMMEDIATE) before it reads, checks and writes, and
  the database CHECK refuses a negative balance should anything else try;
- a debit that cannot be covered raises `InsufficientFunds` and writes nothing;
- amounts are whole fen, strictly positive; nothing here logs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.auth import Institution
from app.models.base import as_utc, utcnow
from app.models.billing import LedgerAccount, LedgerEntry, LedgerKind

#: The most a single top-up may add (10 million yuan): a typo guard, not a business rule.
MAX_MOVEMENT_FEN = 1_000_000_000
MAX_REFERENCE = 128


class LedgerError(ValueError):
    """A movement that is not well-formed (amount, reference); nothing was written."""


class InsufficientFunds(Exception):
    """The institution's balance does not cover the debit; nothing was written."""

    def __init__(self, balance_fen: int, amount_fen: int) -> None:
        super().__init__("insufficient prepaid balance")
        self.balance_fen = balance_fen
        self.amount_fen = amount_fen


def _check(amount_fen: int, reference: str) -> None:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise LedgerError("amount_fen must be a whole number of fen")
    if not 0 < amount_fen <= MAX_MOVEMENT_FEN:
        raise LedgerError(f"amount_fen must be between 1 and {MAX_MOVEMENT_FEN}")
    if not reference or len(reference) > MAX_REFERENCE or not reference.isprintable():
        raise LedgerError(f"reference must be 1 to {MAX_REFERENCE} printable characters")


class LedgerService:
    """Moves money on institution ledgers inside the caller's unit of work (never commits)."""

    def balance(self, db: Session, institution_id: uuid.UUID) -> int:
        account = db.get(LedgerAccount, institution_id)
        return account.balance_fen if account is not None else 0

    def entries(
        self, db: Session, institution_id: uuid.UUID, *, limit: int = 200
    ) -> Sequence[LedgerEntry]:
        """The latest movements, newest first."""
        return db.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.institution_id == institution_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            .limit(limit)
        ).all()

    def debit(
        self,
        db: Session,
        *,
        institution_id: uuid.UUID,
        amount_fen: int,
        reference: str,
        created_by: str = "system",
        now: datetime | None = None,
    ) -> LedgerEntry:
        """Take `amount_fen` from the institution's balance, or raise `InsufficientFunds`."""
        _check(amount_fen, reference)
        account = self._locked(db, institution_id, create=False)
        balance = account.balance_fen if account is not None else 0
        if account is None or balance < amount_fen:
            raise InsufficientFunds(balance, amount_fen)
        return self._move(db, account, -amount_fen, LedgerKind.DEBIT, reference, created_by, now)

    def top_up(
        self,
        db: Session,
        *,
        institution_id: uuid.UUID,
        amount_fen: int,
        reference: str,
        created_by: str,
        now: datetime | None = None,
    ) -> LedgerEntry:
        """Add `amount_fen` (a cashier's top-up), opening the ledger account on first use."""
        _check(amount_fen, reference)
        account = self._locked(db, institution_id, create=True)
        if account is None:  # unreachable: create=True opens the account
            raise LedgerError("no ledger account")
        return self._move(db, account, amount_fen, LedgerKind.TOPUP, reference, created_by, now)

    def _locked(
        self, db: Session, institution_id: uuid.UUID, *, create: bool
    ) -> LedgerAccount | None:
        query = (
            select(LedgerAccount)
            .where(LedgerAccount.institution_id == institution_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        account = db.scalars(query).one_or_none()
        if account is None and create:
            # A concurrent first top-up collides on the primary key and fails its unit of
            # work (the caller retries); it can never double-create or lose a movement.
            account = LedgerAccount(institution_id=institution_id, balance_fen=0)
            db.add(account)
            db.flush()
        return account

    @staticmethod
    def _move(
        db: Session,
        account: LedgerAccount,
        amount_fen: int,
        kind: LedgerKind,
        reference: str,
        created_by: str,
        now: datetime | None,
    ) -> LedgerEntry:
        after = account.balance_fen + amount_fen
        if after < 0:  # unreachable by the checks above; the database CHECK backs it too
            raise InsufficientFunds(account.balance_fen, -amount_fen)
        account.balance_fen = after
        entry = LedgerEntry(
            institution_id=account.institution_id,
            amount_fen=amount_fen,
            balance_after=after,
            kind=kind.value,
            reference=reference,
            created_by=created_by[:64],
            created_at=now if now is not None else utcnow(),
        )
        db.add(entry)
        db.flush()
        return entry


def institution_id_for(db: Session, client_id: str) -> uuid.UUID | None:
    """The institution registered under `client_id`, or None."""
    found: uuid.UUID | None = db.scalar(
        select(Institution.id).where(Institution.client_id == client_id)
    )
    return found


def entry_view(entry: LedgerEntry) -> dict[str, object]:
    return {
        "id": str(entry.id),
        "at": as_utc(entry.created_at).isoformat(),
        "kind": entry.kind,
        "amount_fen": entry.amount_fen,
        "balance_after": entry.balance_after,
        "reference": entry.reference,
        "created_by": entry.created_by,
    }
