"""Accounts and their roles (structure only: logins come with the login issue).

Separation of duties (三权分立): no account may hold both `admin` and `compliance`; the service
that grants roles checks it, and a unique partial guard is added with the login issue.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7


class AccountKind(StrEnum):
    SUBJECT = "subject"
    STAFF = "staff"
    INSTITUTION = "institution"


class Role(StrEnum):
    REGISTRAR = "registrar"
    COMPLIANCE = "compliance"
    CASHIER = "cashier"
    KEY_CUSTODIAN = "key_custodian"
    ADMIN = "admin"


class Account(CreatedAt, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('subject', 'staff', 'institution')", name="kind"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set when an operator set the password: every request but changing it is refused.
    password_must_change: Mapped[bool] = mapped_column(default=False, server_default=false())


class AccountRole(Base):
    __tablename__ = "account_roles"
    __table_args__ = (
        CheckConstraint(
            "role IN ('registrar', 'compliance', 'cashier', 'key_custodian', 'admin')",
            name="role",
        ),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
