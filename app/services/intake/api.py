"""Department intake as the API runs it: each use case owns its units of work.

Guarantees: `provider_of` finds the data provider behind an authenticated OAuth client (None
when the client is not a registered provider); `submit` applies a batch's rows
(`BatchService.run`: its own units, `ReplayedBatch` for bytes applied already) and returns its
receipt; `receipt_for` answers a provider's own batch only — another provider's batch and no
batch alike are None. The web layer hands in what was sent and gets documents back, never a
session.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any, Protocol

from app.clock import Clock
from app.services.intake.batches import (
    BatchService,
    Submission,
    Units,
    batch_provider,
    receipt,
)
from app.services.intake.providers import provider_for_client
from app.services.intake.rows import read_rows
from app.services.intake.schema import intake_rules


class IntakeParts(Units, Protocol):
    @property
    def clock(self) -> Clock: ...


class ProviderIntake:
    def __init__(self, parts: IntakeParts) -> None:
        self.parts = parts

    def provider_of(self, institution_id: uuid.UUID) -> uuid.UUID | None:
        with self.parts.unit() as db:
            provider = provider_for_client(db, institution_id)
            return None if provider is None else provider.id

    def submit(
        self,
        provider_id: uuid.UUID,
        body: bytes,
        fmt: str,
        *,
        actor_ref: str,
        request_id: str,
        client_address: str,
    ) -> dict[str, Any]:
        """Apply the batch `body` (JSON Lines or CSV) for the provider; its receipt.
        `ReplayedBatch` when these bytes were applied already (nothing changes)."""
        clock = self.parts.clock
        submission = Submission(
            provider_id=provider_id,
            source="api",
            fmt=fmt,
            sha256=hashlib.sha256(body).digest(),
            actor_ref=actor_ref,
            request_id=request_id,
            client_address=client_address,
            today=clock.today(),
            now=clock.now(),
        )
        rows = read_rows(io.BytesIO(body), fmt, self.parts.catalog)
        batch_id = BatchService(self.parts, intake_rules()).run(submission, rows)
        with self.parts.unit() as db:
            summary = receipt(db, batch_id)
        assert summary is not None
        return summary

    def receipt_for(
        self, institution_id: uuid.UUID, batch_id: uuid.UUID, *, after_row: int
    ) -> dict[str, Any] | None:
        """The receipt of one of the client's own batches, errors after `after_row`."""
        with self.parts.unit() as db:
            provider = provider_for_client(db, institution_id)
            if provider is None or batch_provider(db, batch_id) != provider.id:
                return None
            return receipt(db, batch_id, after_row=after_row)
