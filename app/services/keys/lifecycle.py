"""Data-key lifecycle: choose, rotate, re-wrap, and crypto-shred by expiry epoch.

Guarantees:
- every value is sealed under the active data key of its wrapping key: the master key for
  values kept for the life of the report, the expiry-epoch key of the month in which a record's
  retention ends otherwise; at most one data key per wrapping key is active (a partial unique
  index; a concurrent creator that loses re-reads the winner's key);
- a transaction that seals under an active key holds a share lock on its row (PostgreSQL), so
  `rotate` waits for in-flight seals to commit: once a key is retired, nothing new lands on it.
  On SQLite writers are serialised and a transaction whose snapshot went stale fails instead;
- `rewrap_retired` moves DEKs in bounded batches (payload ciphertexts untouched) and destroys a
  retired key only after re-counting, under an exclusive lock, that no row still uses it;
- an epoch that has ended, or was shredded, is never given a new key: intake refuses to bring
  expired or destroyed records back;
- `shred_epoch` refuses any month that has not ended; it deletes the records and every row
  derived from them (any row whose foreign key names a shredded record, e.g. the public-list
  index) and marks the keys destroyed first, all in the caller's unit of work, and destroys
  the epoch key in the HSM last, so a failure anywhere before the commit leaves everything as
  it was, and once the key is gone every copy of those records, backups included, is
  unreadable;
- nothing here commits: the caller's transaction decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Column, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import (
    DataKey,
    DataKeyState,
    Objection,
    Record,
    RepairApplication,
    RepairEvidence,
    Statement,
    Subject,
    TotpCredential,
)
from app.models.base import Base, utcnow
from crypto.fields import FieldCipher
from crypto.keyring import WrappedDataKey
from crypto.keys import EPOCH_KEY_PATTERN, KeyProvider, WrappingKey, epoch_key_label

#: Every sealed column in the schema: rewrap moves them all, and a retired key is destroyed only
#: when none of them still uses it. A new sealed column must be added here (a test checks it).
#: Every model with sealed columns, and its sealed columns: one `data_key_id` per row names the
#: data key of all of them (a row's columns are sealed, and re-wrapped, under the same key).
_SEALED: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (Record, ("payload",)),
    (Subject, ("identity",)),
    (TotpCredential, ("secret",)),
    (Objection, ("text", "reason")),
    (Statement, ("text",)),
    (RepairApplication, ("explanation", "reason")),
    (RepairEvidence, ("content",)),
)


def _derived_from_records() -> list[tuple[Table, Column[Any]]]:
    """(table, column) for every foreign key in the schema that names `records.id`: the rows
    that must go with a shredded record, in the same unit of work."""
    records = Record.__table__
    return [
        (table, key.parent)
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table is records
    ]


def delete_records(session: Session, record_ids: list[Any]) -> int:
    """Delete the records and every row derived from them (the rows a shredding takes with
    it), in the caller's unit of work; returns how many records there were."""
    if not record_ids:
        return 0
    for table, column in _derived_from_records():
        session.execute(delete(table).where(column.in_(record_ids)))
    result = session.execute(delete(Record).where(Record.id.in_(record_ids)))
    return int(getattr(result, "rowcount", 0) or 0)


class KeyLifecycleError(Exception):
    """A key operation was refused because it would break a retention or integrity rule."""


def wrapping_label_for(destroy_after: date | None) -> str:
    """The HSM wrapping key for a value whose retention ends on `destroy_after` (or never)."""
    if destroy_after is None:
        return WrappingKey.MASTER.value
    return epoch_key_label(destroy_after.year, destroy_after.month)


def data_key_loader(
    sessions: sessionmaker[Session],
) -> Callable[[int], WrappedDataKey | None]:
    """A key-ring loader reading wrapped keys in a short session of its own."""

    def load(key_id: int) -> WrappedDataKey | None:
        with sessions() as session:
            row = session.execute(
                select(DataKey.id, DataKey.wrapping_label, DataKey.wrapped).where(
                    DataKey.id == key_id, DataKey.state != DataKeyState.DESTROYED.value
                )
            ).one_or_none()
        if row is None or row.wrapped is None:
            return None
        return WrappedDataKey(row.id, row.wrapping_label, row.wrapped)

    return load


@dataclass
class RewrapProgress:
    moved: int = 0
    destroyed: list[int] = field(default_factory=list)
    still_retired: int = 0


@dataclass
class KeyService:
    provider: KeyProvider
    cipher: FieldCipher
    today: Callable[[], date] = date.today

    def active_key_id(self, session: Session, wrapping_label: str) -> int:
        """The active data key under `wrapping_label` (share-locked), created if absent."""
        found = self._locked_active(session, wrapping_label)
        if found is not None:
            return found
        self._check_epoch_open(session, wrapping_label)
        try:
            with session.begin_nested():
                return self._new_active(session, wrapping_label)
        except IntegrityError:
            # Another transaction created it first; use theirs.
            found = self._locked_active(session, wrapping_label)
            if found is None:
                raise
            return found

    def rotate(self, session: Session, wrapping_label: str) -> tuple[int | None, int]:
        """Retire the active key under `wrapping_label` and make a new one; (old, new)."""
        old = session.scalar(
            select(DataKey.id)
            .where(
                DataKey.wrapping_label == wrapping_label,
                DataKey.state == DataKeyState.ACTIVE.value,
            )
            .with_for_update()
        )
        if old is None:
            self._check_epoch_open(session, wrapping_label)
        else:
            session.execute(
                update(DataKey)
                .where(DataKey.id == old)
                .values(state=DataKeyState.RETIRED.value, retired_at=utcnow())
            )
            session.flush()
        return old, self._new_active(session, wrapping_label)

    def rewrap_retired(self, session: Session, max_rows: int = 5000) -> RewrapProgress:
        """Move up to `max_rows` DEKs off retired keys; destroy retired keys no row uses."""
        progress = RewrapProgress()
        retired = session.execute(
            select(DataKey.id, DataKey.wrapping_label)
            .where(DataKey.state == DataKeyState.RETIRED.value)
            .order_by(DataKey.id)
            .with_for_update()
        ).all()
        for key_id, label in retired:
            target: int | None = None
            for model, columns in _SEALED:
                budget = max_rows - progress.moved
                if budget <= 0:
                    break
                rows = session.execute(
                    select(model.id, *(getattr(model, column) for column in columns))
                    .where(model.data_key_id == key_id)
                    .limit(budget)
                ).all()
                if rows and target is None:
                    target = self.active_key_id(session, label)
                for row_id, *envelopes in rows:
                    assert target is not None
                    values: dict[str, Any] = {"data_key_id": target}
                    for column, envelope in zip(columns, envelopes, strict=True):
                        if envelope is None:
                            continue  # an optional sealed column left empty
                        if envelope.data_key_id != key_id:
                            raise KeyLifecycleError(
                                f"{model.__tablename__} row {row_id}: envelope names data key "
                                f"{envelope.data_key_id}, column names {key_id}"
                            )
                        values[column] = self.cipher.rewrap(
                            model.context_for(row_id, column), envelope, target
                        )
                    session.execute(update(model).where(model.id == row_id).values(values))
                progress.moved += len(rows)
            if self._references(session, key_id) == 0:
                self._mark_destroyed(session, [key_id])
                progress.destroyed.append(key_id)
            else:
                progress.still_retired += 1
        session.flush()
        return progress

    def shred_epoch(self, session: Session, year: int, month: int) -> int:
        """Crypto-shred every record whose retention ended in `year`-`month`; returns count."""
        today = self.today()
        if (year, month) >= (today.year, today.month):
            raise KeyLifecycleError(
                f"epoch {year:04d}-{month:02d} has not ended; only past months can be shredded"
            )
        label = epoch_key_label(year, month)
        key_ids = list(
            session.scalars(
                select(DataKey.id).where(DataKey.wrapping_label == label).with_for_update()
            )
        )
        count = 0
        if key_ids:
            shredded = select(Record.id).where(Record.data_key_id.in_(key_ids))
            for table, column in _derived_from_records():
                session.execute(delete(table).where(column.in_(shredded)))
            result = session.execute(delete(Record).where(Record.data_key_id.in_(key_ids)))
            count = int(getattr(result, "rowcount", 0) or 0)
            self._mark_destroyed(session, key_ids)
            session.flush()
        self.provider.destroy_epoch_key(label)  # last: irreversible
        return count

    def _locked_active(self, session: Session, wrapping_label: str) -> int | None:
        return session.scalar(
            select(DataKey.id)
            .where(
                DataKey.wrapping_label == wrapping_label,
                DataKey.state == DataKeyState.ACTIVE.value,
            )
            .with_for_update(read=True)
        )

    def _check_epoch_open(self, session: Session, wrapping_label: str) -> None:
        match = EPOCH_KEY_PATTERN.match(wrapping_label)
        if match is None:
            return
        today = self.today()
        if (int(match[1]), int(match[2])) < (today.year, today.month):
            raise KeyLifecycleError(
                f"epoch {match[1]}-{match[2]} has ended: records that expired are not stored"
            )
        shredded = session.scalar(
            select(func.count())
            .select_from(DataKey)
            .where(
                DataKey.wrapping_label == wrapping_label,
                DataKey.state == DataKeyState.DESTROYED.value,
            )
        )
        if shredded:
            raise KeyLifecycleError(f"epoch {match[1]}-{match[2]} was shredded")

    def _new_active(self, session: Session, wrapping_label: str) -> int:
        if wrapping_label != WrappingKey.MASTER.value:
            self.provider.ensure_epoch_key(wrapping_label)
        wrapped = self.cipher.keyring.create(wrapping_label)
        try:
            session.add(
                DataKey(
                    id=wrapped.key_id,
                    wrapping_label=wrapped.wrapping_label,
                    state=DataKeyState.ACTIVE.value,
                    wrapped=wrapped.wrapped,
                )
            )
            session.flush()
        except BaseException:
            self.cipher.keyring.forget(wrapped.key_id)
            raise
        return wrapped.key_id

    def _references(self, session: Session, key_id: int) -> int:
        return sum(
            session.scalar(
                select(func.count()).select_from(model).where(model.data_key_id == key_id)
            )
            or 0
            for model, _ in _SEALED
        )

    def _mark_destroyed(self, session: Session, key_ids: list[int]) -> None:
        session.execute(
            update(DataKey)
            .where(DataKey.id.in_(key_ids))
            .values(state=DataKeyState.DESTROYED.value, wrapped=None, destroyed_at=utcnow())
        )
        for key_id in key_ids:
            self.cipher.keyring.forget(key_id)
