"""Appending to the query log (ARCHITECTURE §7).

Guarantees:
- `append` writes the entry in the caller's unit of work: the answer and its log entry commit
  together or not at all. There is deliberately no `try/except` around it: if the entry cannot
  be written, the exception propagates, the unit rolls back and the caller answers 503 with
  nothing disclosed;
- appends are serialised on the single `query_log_head` row, so sequence numbers are gap-free
  and every entry chains to its predecessor. One append path per engine: SQLite reads the head,
  inserts the entry and moves the head inside its unit's write lock; PostgreSQL calls
  `query_log_append` (migrations 0009 and 0110: the same three steps in one round trip, the
  head locked FOR UPDATE). Both hash exactly the values `entry.stored_fields` gives, encoded by
  `entry.EntryEncoding` (`crypto.hash_chain`, the one owner of the encoding);
- an entry holds the subject's blind index, never an ID number, a name or a released value;
- every `every` entries, or at the first append once the last checkpoint is `seconds` old, the
  append signs a checkpoint in the HSM inside the same unit (`checkpoints`); an HSM failure
  there fails the append (fail closed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    LargeBinary,
    Table,
    bindparam,
    column,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.query_log import QueryLogEntry
from app.services.querylog.checkpoints import (
    Head,
    checkpoint_due,
    lock_head,
    move_head,
    sign_head,
)
from app.services.querylog.entry import AFTER_SEQ, EntryEncoding, stored_fields
from crypto.hash_chain import chain_hash
from crypto.keys import KeyProvider

logger = logging.getLogger("creditgate.query_log")

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
    legal_basis: str | None = None  # a government query's `regulation:reference`
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


@dataclass(frozen=True)
class LoggedEntry:
    """Where an entry went: its sequence number and chain hash (a subject's receipt)."""

    seq: int
    entry_hash: bytes


_LOG = cast(Table, QueryLogEntry.__table__)
_INSERT_ENTRY = insert(_LOG)
_ENCODING = EntryEncoding()  # per process: the repeating fields' encodings are remembered


class QueryLog:
    """Writes entries under the catalog and policy versions the decisions were made under, and
    signs a checkpoint with `signer` every `every` entries or `seconds` seconds."""

    def __init__(
        self,
        catalog_version: str,
        policy_version: str,
        *,
        signer: KeyProvider,
        every: int = 1000,
        seconds: int = 300,
    ) -> None:
        if every < 1 or seconds < 1:
            raise ValueError("checkpoint interval must be at least 1 entry and 1 second")
        self.catalog_version = catalog_version
        self.policy_version = policy_version
        self.signer = signer
        self.every = every
        self.seconds = seconds

    def append(self, db: Session | Connection, attempt: QueryAttempt) -> LoggedEntry:
        """Chain `attempt` after the head and write it in the unit `db`; sign a checkpoint
        when one is due."""
        connection = db if isinstance(db, Connection) else db.connection()
        fields = stored_fields(
            attempt, catalog_version=self.catalog_version, policy_version=self.policy_version
        )
        rest = _ENCODING.after_seq(fields)
        if connection.dialect.name == "postgresql":
            head = _append_in_postgresql(connection, fields, rest)
        else:
            head = _append_in_sqlite(connection, fields, rest)
        now = utcnow()
        if checkpoint_due(head, now, every=self.every, seconds=self.seconds):
            move_head(connection, sign_head(connection, self.signer, head, now))
        return LoggedEntry(head.last_seq, head.last_hash)


def _append_in_sqlite(connection: Connection, fields: dict[str, Any], rest: bytes) -> Head:
    """Read the head, write the entry, move the head: the unit already holds SQLite's one
    write lock (BEGIN IMMEDIATE), so nothing can come in between."""
    head = lock_head(connection)
    seq = head.last_seq + 1
    entry_hash = chain_hash(head.last_hash, EntryEncoding.seq_field(seq) + rest)
    connection.execute(
        _INSERT_ENTRY,
        {"seq": seq, **fields, "prev_hash": head.last_hash, "entry_hash": entry_hash},
    )
    moved = Head(seq, entry_hash, head.checkpoint_seq, head.checkpoint_at)
    move_head(connection, moved)
    return moved


#: The call of `query_log_append`: the entry's fields after seq, in canonical order, then the
#: canonical bytes of those fields.
_APPEND_CALL = select(
    func.query_log_append(
        *(bindparam(name, type_=_LOG.c[name].type) for name in AFTER_SEQ),
        bindparam("rest", type_=LargeBinary()),
    ).table_valued(
        column("last_seq", BigInteger()),
        column("last_hash", LargeBinary()),
        column("checkpoint_seq", BigInteger()),
        column("checkpoint_at", DateTime(timezone=True)),
    )
)


def _append_in_postgresql(connection: Connection, fields: dict[str, Any], rest: bytes) -> Head:
    """`query_log_append` (migration 0009): the head locked, the entry chained and written,
    the head moved, in one round trip."""
    row = connection.execute(_APPEND_CALL, {**fields, "rest": rest}).one()
    return Head(row.last_seq, bytes(row.last_hash), row.checkpoint_seq, row.checkpoint_at)


class UnitOfWork(Protocol):
    """What `record_failure` needs of the container (kept structural: services do not import
    `app.container`)."""

    def unit(self) -> AbstractContextManager[Session]: ...

    def query_log(self) -> QueryLog: ...


def record_failure(parts: UnitOfWork, attempt: QueryAttempt) -> LoggedEntry | None:
    """Write `attempt` as a `failed` entry in its own unit of work, after the caller's unit
    rolled back. Never raises: if this write fails too, only the exception type is logged."""
    failed = attempt if attempt.decision == "failed" else replace(attempt, decision="failed")
    try:
        with parts.unit() as db:
            return parts.query_log().append(db, failed)
    except Exception as exc:  # noqa: BLE001 - the caller answers 503 either way
        logger.error(
            "query log: could not record a failed %s attempt (%s)",
            failed.action,
            type(exc).__name__,
        )
        return None


def new_request_id() -> str:
    return str(uuid.uuid4())
