"""Signed PDF credit reports: the report-signing certificates and every issued PDF.

- `report_certificates`: the platform's report CA (a self-signed root over the HSM key
  `cg-report-ca`) and the end-entity certificates it issued for the HSM key `cg-report-sign`,
  as DER. Public data (a verifier needs the root); no key material.
- `issued_reports`: one row per PDF handed out, found by the SHA-256 of the reference printed
  on it (the reference itself is not kept) and by the SHA-256 of the signed file. It holds no
  subject, no field and nothing of the report's content: what the public verification can say
  is exactly "issued, when" or "not issued".
- `report_verification_uses`: the public verification's counter per client address and hour
  (anonymous callers are bounded), raised only by a guarded UPDATE.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt


class ReportCertificate(CreatedAt, Base):
    __tablename__ = "report_certificates"
    __table_args__ = (CheckConstraint("role IN ('root', 'signer')", name="role"),)

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # lowercase hex
    role: Mapped[str] = mapped_column(String(8))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class IssuedReport(Base):
    __tablename__ = "issued_reports"
    __table_args__ = (CheckConstraint("kind IN ('self', 'archive')", name="kind"),)

    reference_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))
    document_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReportVerificationUse(Base):
    __tablename__ = "report_verification_uses"
    __table_args__ = (CheckConstraint("used >= 0", name="used"),)

    client_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[int] = mapped_column(Integer, default=0)
