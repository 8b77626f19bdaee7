"""Data-key lifecycle: choose, rotate, re-wrap, and crypto-shred by expiry epoch.

Guarantees:
- every value is sealed under the active data key of its wrapping key: the master key for
  values kept for the life of the report, the expiry-epoch key of the month in which a record's
  retention ends otherwise;
- rotation makes a new active key and retires the old one; retired keys still open old values
  until `rewrap_retired` has moved every DEK (payload ciphertexts are not touched);
- `shred_epoch` destroys the epoch key in the HSM first, then deletes the records under it: if
  the HSM refuses, nothing is deleted; once the key is gone, every copy of those records,
  backups included, is unreadable;
- nothing here commits: the caller's transaction decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.models import DataKey, DataKeyState, Record, Subject
from app.models.base import utcnow
from crypto.fields import FieldCipher, FieldContext
from crypto.keyring import WrappedDataKey
from crypto.keys import KeyProvider, WrappingKey, epoch_key_label


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
class KeyService:
    provider: KeyProvider
    cipher: FieldCipher

    def active_key_id(self, session: Session, wrapping_label: str) -> int:
        """The active data key under `wrapping_label`, created (and its epoch key) if absent."""
        key_id = session.scalar(
            select(DataKey.id).where(
                DataKey.wrapping_label == wrapping_label,
                DataKey.state == DataKeyState.ACTIVE.value,
            )
        )
        if key_id is not None:
            return key_id
        return self._new_active(session, wrapping_label)

    def rotate(self, session: Session, wrapping_label: str) -> tuple[int | None, int]:
        """Retire the active key under `wrapping_label` and make a new one; (old, new)."""
        old = session.scalar(
            select(DataKey.id).where(
                DataKey.wrapping_label == wrapping_label,
                DataKey.state == DataKeyState.ACTIVE.value,
            )
        )
        if old is not None:
            session.execute(
                update(DataKey)
                .where(DataKey.id == old)
                .values(state=DataKeyState.RETIRED.value, retired_at=utcnow())
            )
        return old, self._new_active(session, wrapping_label)

    def rewrap_retired(self, session: Session, batch_size: int = 500) -> int:
        """Move every DEK under a retired key to its label's active key; returns rows moved."""
        moved = 0
        retired = session.execute(
            select(DataKey.id, DataKey.wrapping_label).where(
                DataKey.state == DataKeyState.RETIRED.value
            )
        ).all()
        for key_id, label in retired:
            target = self.active_key_id(session, label)
            for model, column in ((Record, "payload"), (Subject, "identity")):
                moved += self._rewrap_table(session, model, column, key_id, target, batch_size)
            session.execute(
                update(DataKey)
                .where(DataKey.id == key_id)
                .values(state=DataKeyState.DESTROYED.value, wrapped=None, destroyed_at=utcnow())
            )
            self.cipher.keyring.forget(key_id)
        return moved

    def shred_epoch(self, session: Session, year: int, month: int) -> int:
        """Crypto-shred every record whose retention ended in `year`-`month`; returns count."""
        label = epoch_key_label(year, month)
        key_ids = list(session.scalars(select(DataKey.id).where(DataKey.wrapping_label == label)))
        self.provider.destroy_epoch_key(label)
        count = 0
        if key_ids:
            result = session.execute(delete(Record).where(Record.data_key_id.in_(key_ids)))
            count = int(getattr(result, "rowcount", 0) or 0)
            session.execute(
                update(DataKey)
                .where(DataKey.id.in_(key_ids))
                .values(state=DataKeyState.DESTROYED.value, wrapped=None, destroyed_at=utcnow())
            )
        for key_id in key_ids:
            self.cipher.keyring.forget(key_id)
        return count

    def _new_active(self, session: Session, wrapping_label: str) -> int:
        if wrapping_label != WrappingKey.MASTER.value:
            self.provider.ensure_epoch_key(wrapping_label)
        wrapped = self.cipher.keyring.create(wrapping_label)
        session.add(
            DataKey(
                id=wrapped.key_id,
                wrapping_label=wrapped.wrapping_label,
                state=DataKeyState.ACTIVE.value,
                wrapped=wrapped.wrapped,
            )
        )
        session.flush()
        return wrapped.key_id

    def _rewrap_table(
        self,
        session: Session,
        model: type[Record] | type[Subject],
        column: str,
        old: int,
        new: int,
        batch_size: int,
    ) -> int:
        moved = 0
        table = model.__tablename__
        while True:
            rows = session.execute(
                select(model.id, getattr(model, column))
                .where(model.data_key_id == old)
                .limit(batch_size)
            ).all()
            if not rows:
                return moved
            for row_id, envelope in rows:
                ctx = FieldContext(table, column, str(row_id))
                rewrapped = self.cipher.rewrap(ctx, envelope, new)
                session.execute(
                    update(model)
                    .where(model.id == row_id)
                    .values({column: rewrapped, "data_key_id": new})
                )
            moved += len(rows)
