"""One batch from a provider: streamed in chunks, each chunk its own unit of work, with a receipt.

Guarantees:
- memory is flat: rows are read one at a time (`app.services.intake.rows`) and applied in
  chunks of `CHUNK_ROWS`, each committed in a unit of its own and then dropped;
- a batch is known by (provider, SHA-256 of its bytes): the same bytes again are refused as a
  replay (`ReplayedBatch`, one `denied` log entry) and change nothing; a batch that was cut off
  (the process died) is resumed when it is sent again: rows already applied come out
  `unchanged` (idempotent by provider record id), so nothing is applied twice;
- every row is checked by `policies.unified_format.check_row` and applied by
  `app.services.intake.chunk.ChunkWriter`; a refused row is one `intake_errors` row (row, field,
  rule, a value-free message), and never stops the others;
- every chunk grades again the subjects whose records it changed, in its own unit;
- the batch's end is one query-log entry (`provider:records:submit`, reason `batch_done`); each
  correction and withdrawal is one more (see `chunk`);
- nothing here holds or logs a value of a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.models import DataProvider, IntakeBatch, IntakeError
from app.models.base import as_utc
from app.services.grades.grading import Grader
from app.services.intake.chunk import ChunkContext, ChunkCounts, ChunkWriter
from app.services.keys.lifecycle import KeyService
from app.services.lists.public_lists import public_record_types
from app.services.querylog.log import QueryAttempt, QueryLog
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.catalog import Catalog
from policies.intake_rules import IntakeRules
from policies.scorecard import default_scorecard
from policies.unified_format import Line, RowError, check_row

CHUNK_ROWS = 1000
#: How many errors a receipt carries inline; the rest are paged (`errors_after`).
RECEIPT_ERRORS = 100


class Units(Protocol):
    """What a batch needs of the container (structural: services do not import it)."""

    def unit(self) -> AbstractContextManager[Session]: ...

    def query_log(self) -> QueryLog: ...

    @property
    def key_provider(self) -> KeyProvider: ...

    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...


class ReplayedBatch(Exception):
    """These exact bytes were applied already for this provider (`batch_id` says where)."""

    def __init__(self, batch_id: uuid.UUID) -> None:
        super().__init__("this batch was received and applied already")
        self.batch_id = batch_id


@dataclass(frozen=True)
class Submission:
    """Who sent a batch, how, and when."""

    provider_id: uuid.UUID
    source: str  # api | file
    fmt: str  # jsonl | csv
    sha256: bytes
    actor_ref: str  # the provider's client id (API) or "cli:<provider code>" (file)
    request_id: str
    client_address: str
    today: date
    now: datetime


@dataclass
class BatchService:
    parts: Units
    rules: IntakeRules
    progress: Callable[[int], None] = field(default=lambda rows: None)

    def run(self, submission: Submission, rows: Iterable[Any]) -> uuid.UUID:
        """Apply every row of the batch; returns its id (see `receipt`). `ReplayedBatch` if
        these bytes were applied already."""
        batch_id = self._open(submission)
        keys = KeyService(
            self.parts.key_provider, self.parts.cipher, today=lambda: submission.today
        )
        log = self.parts.query_log()
        with self.parts.unit() as db:
            provider = db.get(DataProvider, submission.provider_id)
            assert provider is not None
            db.expunge(provider)
        context = ChunkContext(
            provider=provider,
            batch_id=batch_id,
            today=submission.today,
            now=submission.now,
            actor_ref=submission.actor_ref,
            request_id=submission.request_id,
            client_address=submission.client_address,
            catalog_version=self.parts.catalog.version,
            public_types=public_record_types(self.parts.catalog),
        )
        grader = Grader(default_scorecard(self.parts.catalog), self.parts.cipher)
        writer = ChunkWriter(keys, log, context, grader)
        for chunk in _chunks(rows):
            lines, errors = self._check(chunk, submission.today)
            with self.parts.unit() as db:
                counts, refused = writer.apply(db, lines)
                counts.rows += len(errors)
                counts.rejected += len(errors)
                self._record(db, batch_id, counts, errors + refused)
            self.progress(len(chunk))
        with self.parts.unit() as db:
            db.execute(
                update(IntakeBatch)
                .where(IntakeBatch.id == batch_id)
                .values(status="done", finished_at=submission.now)
            )
            log.append(db, self._attempt(submission, "allowed", "batch_done"))
        return batch_id

    def _open(self, submission: Submission) -> uuid.UUID:
        """The batch row: new, or the interrupted one with these bytes (restarted from zero)."""
        with self.parts.unit() as db:
            found = db.execute(
                select(IntakeBatch.id, IntakeBatch.status).where(
                    IntakeBatch.provider_id == submission.provider_id,
                    IntakeBatch.content_sha256 == submission.sha256,
                )
            ).one_or_none()
            if found is not None and found.status == "done":
                self.parts.query_log().append(
                    db, self._attempt(submission, "denied", "replayed_batch")
                )
            elif found is not None:  # cut off before: start again, applied rows are unchanged
                db.execute(delete(IntakeError).where(IntakeError.batch_id == found.id))
                db.execute(
                    update(IntakeBatch)
                    .where(IntakeBatch.id == found.id)
                    .values(**{name: 0 for name in ChunkCounts.__dataclass_fields__})
                )
                return uuid.UUID(str(found.id))
            else:
                batch = IntakeBatch(
                    provider_id=submission.provider_id,
                    source=submission.source,
                    format=submission.fmt,
                    content_sha256=submission.sha256,
                    status="processing",
                    received_at=submission.now,
                    **{name: 0 for name in ChunkCounts.__dataclass_fields__},
                )
                db.add(batch)
                db.flush()
                return batch.id
        raise ReplayedBatch(uuid.UUID(str(found.id)))

    def _check(self, chunk: list[Any], today: date) -> tuple[list[Line], list[RowError]]:
        lines: list[Line] = []
        errors: list[RowError] = []
        catalog = self.parts.catalog
        memo: dict[str, str] = {}  # ID numbers found valid in this chunk, dropped with it
        for item in chunk:
            if isinstance(item, RowError):
                errors.append(item)
                continue
            row, value = item
            checked = check_row(
                row, value, catalog=catalog, rules=self.rules, today=today, memo=memo
            )
            if isinstance(checked, RowError):
                errors.append(checked)
            else:
                lines.append(checked)
        return lines, errors

    @staticmethod
    def _record(
        db: Session, batch_id: uuid.UUID, counts: ChunkCounts, errors: list[RowError]
    ) -> None:
        if errors:
            db.execute(
                insert(IntakeError),
                [
                    {
                        "batch_id": batch_id,
                        "row": e.row,
                        "field": e.field,
                        "rule": e.rule,
                        "message": e.message[:240],
                    }
                    for e in errors
                ],
            )
        db.execute(
            update(IntakeBatch)
            .where(IntakeBatch.id == batch_id)
            .values(
                {
                    name: getattr(IntakeBatch, name) + getattr(counts, name)
                    for name in ChunkCounts.__dataclass_fields__
                }
            )
        )

    @staticmethod
    def _attempt(submission: Submission, decision: str, reason: str) -> QueryAttempt:
        return QueryAttempt(
            action=Action.PROVIDER_RECORDS_SUBMIT.value,
            decision=decision,
            reason=reason,
            actor_kind="institution",
            actor_ref=submission.actor_ref,
            request_id=submission.request_id,
            client_address=submission.client_address,
            at=submission.now,
        )


def _chunks(rows: Iterable[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- receipts ------------------------------------------------------------------------------------


def receipt(db: Session, batch_id: uuid.UUID, *, after_row: int = 0) -> dict[str, Any] | None:
    """The batch's receipt: counts, status, and its errors after `after_row` (at most
    `RECEIPT_ERRORS`, in row order; `errors_total` counts them all)."""
    batch = db.get(IntakeBatch, batch_id)
    if batch is None:
        return None
    provider = db.get(DataProvider, batch.provider_id)
    assert provider is not None
    errors = db.scalars(
        select(IntakeError)
        .where(IntakeError.batch_id == batch_id, IntakeError.row > after_row)
        .order_by(IntakeError.row)
        .limit(RECEIPT_ERRORS)
    ).all()
    total = batch.rejected
    return {
        "batch_id": str(batch.id),
        "provider": provider.credit_code,
        "source": batch.source,
        "format": batch.format,
        "status": batch.status,
        "received_at": as_utc(batch.received_at).isoformat(),
        "finished_at": None if batch.finished_at is None else as_utc(batch.finished_at).isoformat(),
        "sha256": batch.content_sha256.hex(),
        "counts": {name: getattr(batch, name) for name in ChunkCounts.__dataclass_fields__},
        "errors_total": total,
        "errors": [
            {"row": e.row, "field": e.field, "rule": e.rule, "message": e.message} for e in errors
        ],
        "errors_truncated": len(errors) == RECEIPT_ERRORS,
    }


def batch_provider(db: Session, batch_id: uuid.UUID) -> uuid.UUID | None:
    return db.scalar(select(IntakeBatch.provider_id).where(IntakeBatch.id == batch_id))
