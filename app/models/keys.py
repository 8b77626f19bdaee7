"""Wrapped data keys (the middle of the key hierarchy, ARCHITECTURE §6)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt


class DataKeyState(StrEnum):
    ACTIVE = "active"  # new values are sealed under it
    RETIRED = "retired"  # still opens old values until they are re-wrapped
    DESTROYED = "destroyed"  # its wrapping key or its row is gone: values under it are shredded


class DataKey(CreatedAt, Base):
    __tablename__ = "data_keys"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'retired', 'destroyed')", name="state"),
        # At most one active data key per wrapping key: two concurrent first users of a new
        # epoch cannot both create one (the loser re-reads the winner's).
        Index(
            "uq_data_keys_one_active_per_label",
            "wrapping_label",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapping_label: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), default=DataKeyState.ACTIVE.value)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
