"""Counted uses of the free self-service, and the index that makes public lists searchable.

- `report_allowances`: one row per account and calendar year, `used` free own reports; the
  service raises it only with a guarded `UPDATE … WHERE used < limit`, so concurrent requests
  can never issue more free reports than the policy allows.
- `daily_uses`: one row per account, action and day, counted the same way (anti-scraping limit).
- `public_list_entries`: one row per record of a public-class type, found by the HMAC blind
  index of the subject's normalised name or ID number (never the name or number itself).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class ReportAllowance(Base):
    __tablename__ = "report_allowances"
    __table_args__ = (CheckConstraint("used >= 0", name="used"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(Integer, default=0)


class DailyUse(Base):
    __tablename__ = "daily_uses"
    __table_args__ = (CheckConstraint("used >= 0", name="used"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(48), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class PublicListEntry(Base):
    __tablename__ = "public_list_entries"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    record_type: Mapped[str] = mapped_column(String(64))
    name_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    id_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
