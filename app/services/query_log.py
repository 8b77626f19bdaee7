"""Appending to the query log (ARCHITECTURE §7).

Guarantees:
- `append` writes the entry in the caller's transaction: the answer and its log entry commit
  together or not at all. There is deliberately no `try/except` around it: if the entry cannot
  be written, the exception propagates, the transaction rolls back and the web layer answers
  503 with nothing disclosed;
- appends are serialised by locking the single `query_log_head` row, so sequence numbers are
  gap-free and every entry chains to its predecessor (`crypto.hash_chain`);
- an entry holds the subject's blind index, never an ID number, a name or a released value.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import as_utc, utcnow
from app.models.query_log import QueryLogEntry, QueryLogHead
from crypto.hash_chain import Field, canonical, chain_hash

DECISIONS = ("allowed", "denied", "failed")


@dataclass(frozen=True)
class QueryAttempt:
    """One query attempt as the log records it (see the module docstring for what never goes
    in). `fields_released` are `type.field` names; `rule_ids` the matching policy rules."""

    action: str
    decision: str  # allowed | denied | failed
    reason: str
    actor_kind: str  # subject | staff | institution | payment_provider | anonymous
    actor_ref: str  # account id, institution client id, or "anonymous"
    request_id: str
    client_address: str
    subject_bidx: bytes | None = None
    purpose: str | None = None
    consent_jti: str | None = None
    rule_ids: Sequence[str] = ()
    fields_released: Sequence[str] = ()
    fee_fen: int = 0
    at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        if self.subject_bidx is not None and len(self.subject_bidx) != 32:
            raise ValueError("subject_bidx must be a 32-byte blind index")

    @property
    def tier(self) -> str:
        return self.action.split(":", 1)[0]


def entry_fields(row: QueryLogEntry) -> tuple[Field, ...]:
    """The fields of an entry in canonical order (everything but the two hashes)."""
    return (
        row.seq,
        as_utc(row.at),
        row.actor_kind,
        row.actor_ref,
        row.tier,
        row.action,
        row.subject_bidx,
        row.purpose,
        row.consent_jti,
        row.decision,
        row.reason,
        row.rule_ids,
        row.fields_released,
        row.fee_fen,
        row.catalog_version,
        row.policy_version,
        row.request_id,
        row.client_address,
    )


@dataclass(frozen=True)
class LoggedEntry:
    seq: int
    entry_hash: bytes


class QueryLog:
    """Writes entries under the catalog and policy versions the decisions were made under."""

    def __init__(self, catalog_version: str, policy_version: str) -> None:
        self.catalog_version = catalog_version
        self.policy_version = policy_version

    def append(self, db: Session, attempt: QueryAttempt) -> LoggedEntry:
        head = db.scalars(
            select(QueryLogHead)
            .where(QueryLogHead.id == 1)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        row = QueryLogEntry(
            seq=head.last_seq + 1,
            at=attempt.at,
            actor_kind=attempt.actor_kind,
            actor_ref=attempt.actor_ref[:64],
            tier=attempt.tier,
            action=attempt.action,
            subject_bidx=attempt.subject_bidx,
            purpose=attempt.purpose,
            consent_jti=attempt.consent_jti,
            decision=attempt.decision,
            reason=attempt.reason[:64],
            rule_ids=",".join(attempt.rule_ids),
            fields_released=",".join(attempt.fields_released),
            fee_fen=attempt.fee_fen,
            catalog_version=self.catalog_version,
            policy_version=self.policy_version,
            request_id=attempt.request_id[:64],
            client_address=attempt.client_address[:45],
            prev_hash=head.last_hash,
        )
        row.entry_hash = chain_hash(head.last_hash, canonical(entry_fields(row)))
        db.add(row)
        head.last_seq = row.seq
        head.last_hash = row.entry_hash
        db.flush()
        return LoggedEntry(row.seq, row.entry_hash)


def new_request_id() -> str:
    return str(uuid.uuid4())
