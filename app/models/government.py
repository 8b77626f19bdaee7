"""Government agencies (administrative queriers): an institution's OAuth client registered
for some of the administrative purposes of `policies/data/government.toml`."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt


class GovernmentAgency(CreatedAt, Base):
    """The administrative purposes an agency's client may query for (space-separated codes);
    it authenticates as the institution `institution_id` (scope `government:report:query`)."""

    __tablename__ = "government_agencies"

    institution_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("institutions.id"), primary_key=True
    )
    purposes: Mapped[str] = mapped_column(String(400))
