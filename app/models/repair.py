"""Credit repair (信用修复, ARCHITECTURE §3): a subject's application to end the display of
one of their penalty records early, with the evidence that the act was corrected, and the
registrar's decision.

An application names the record version the subject saw (`record_id`) and the provider's key
(`provider_id`, `provider_record_id`), like an objection. What the subject and the registrar
wrote, and every evidence file, are stored only sealed under the record's expiry-epoch key: they
are crypto-shredded with the record (the application goes with it, its evidence by cascade).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7
from app.models.sealed import Sealed, SealedColumns
from crypto.envelope import Envelope

#: What becomes of an application.
REPAIR_STATUSES = ("open", "approved", "refused")


class RepairApplication(SealedColumns, CreatedAt, Base):
    """A subject's application for credit repair of one record, from filing to decision."""

    __tablename__ = "repair_applications"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'approved', 'refused')", name="status"),
        Index("ix_repair_applications_subject_id_filed_at", "subject_id", "filed_at"),
        Index("ix_repair_applications_status_filed_at", "status", "filed_at"),
        # one open application per record (whatever version the subject saw)
        Index(
            "uq_repair_applications_open",
            "provider_id",
            "provider_record_id",
            unique=True,
            sqlite_where=sql_text("status = 'open'"),
            postgresql_where=sql_text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_providers.id"))
    provider_record_id: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(64))
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"))
    #: what the subject did to correct the act
    explanation: Mapped[Envelope] = mapped_column(Sealed)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: the registrar's reason (required to refuse)
    reason: Mapped[Envelope | None] = mapped_column(Sealed)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    #: approved: the first day the record is no longer shown
    hidden_from: Mapped[date | None] = mapped_column(Date)


class RepairEvidence(SealedColumns, Base):
    """One evidence file of an application: its type as judged by its bytes, its size, and
    its contents sealed. The client's file name is not kept."""

    __tablename__ = "repair_evidence"
    __table_args__ = (
        CheckConstraint(
            "media_type IN ('application/pdf', 'image/png', 'image/jpeg')", name="media_type"
        ),
        Index(
            "uq_repair_evidence_application_id_position", "application_id", "position", unique=True
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repair_applications.id", ondelete="CASCADE")
    )
    #: 1, 2, ...: the order the files were sent in
    position: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"))
    content: Mapped[Envelope] = mapped_column(Sealed)
