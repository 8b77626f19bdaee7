"""Appending to the query log (ARCHITECTURE §7).

Guarantees:
- `append` writes the entry in the caller's transaction: the answer and its log entry commit
  together or not at all. There is deliberately no `try/except` around it: if the entry cannot
  be written, the exception propagates, the transaction rolls back and the web layer answers
  503 with nothing disclosed;
- appends are serialised by locking the single `query_log_head` row, so sequence numbers are
  gap-free and every entry chains to its predecessor (`crypto.hash_chain`);
- an entry holds the subject's blind index, never an ID number, a name or a released value;
- every `every` entries, or at the first append once the last checkpoint is `seconds` old, the
  append signs a checkpoint in the HSM inside the same transaction
  (`app.services.querylog.checkpoints`);
  an HSM failure there fails the append (fail closed). `append_if` (PostgreSQL's charge and
  entry as one statement) never signs: it writes nothing when a checkpoint would be due, and
  the caller appends in a unit of work instead;
- `record_failure` writes a `failed` entry in a fresh unit of work after the caller's unit
  rolled back; if that fails too it logs only the exception's type (never its message, which
  could carry values) and returns, and the caller still answers 503;
- `entries_about` shows a subject who queried them: an institution by name, another person as
  "individual", the subject as "you" — never another person's account id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Connection, String, Table, bindparam, insert, literal, select
from sqlalchemy.orm import Session

from app.models.auth import Institution
from app.models.base import as_utc, utcnow
from app.models.query_log import CANONICAL_COLUMNS, QueryLogEntry
from app.prepared import Prepared
from app.services.querylog.append_pg import GuardedAppend, append_chained
from app.services.querylog.checkpoints import (
    Head,
    checkpoint_due,
    lock_head,
    move_head,
    sign_head,
)
from app.services.unit_of_work import connection_of
from crypto.hash_chain import Field, canonical, chain_hash
from crypto.keys import KeyProvider
from policies.actions import QUERY_TIERS

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
    return tuple(
        as_utc(row.at) if name == "at" else getattr(row, name) for name in CANONICAL_COLUMNS
    )


@dataclass(frozen=True)
class LoggedEntry:
    seq: int
    entry_hash: bytes


class QueryRecord(NamedTuple):
    """One line of a subject's "query records": who looked at them, when, for what (a tuple:
    a report makes a hundred of them)."""

    at: str  # the entry's time in ISO 8601, UTC (as shown)
    requester: str  # institution name | "individual" | "you"
    action: str
    purpose: str | None
    seq: int = 0  # the entry's position: the cursor for the next page, never shown as data

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "requester": self.requester,
            "action": self.action,
            "purpose": self.purpose,
        }


def shown_time(at: datetime) -> str:
    """An entry time as a query record shows it: ISO 8601 in UTC. SQLite gives back the naive
    UTC time the append stored; PostgreSQL an aware one in the session's time zone."""
    if at.tzinfo is None:
        return at.isoformat() + "+00:00"
    return at.astimezone(UTC).isoformat()


_LOG = cast(Table, QueryLogEntry.__table__)
_INSTITUTIONS = cast(Table, Institution.__table__)
#: Every query appends one entry, under the head's lock: a prepared statement (`app.prepared`).
_INSERT_ENTRY = Prepared(insert(_LOG), column_keys=(*CANONICAL_COLUMNS, "prev_hash", "entry_hash"))
_NO_SEQ_BOUND, _NO_LIMIT = 2**62, 2**31
#: Built once: the subject's allowed query-tier entries since a time, newest first, paged by
#: sequence number (served by the (subject_bidx, seq) index). `entries_about` runs it; the
#: own-report benchmark's bare endpoint reads the same rows with it.
ENTRIES_ABOUT = (
    select(
        _LOG.c.seq,
        _LOG.c.at,
        _LOG.c.actor_kind,
        _LOG.c.actor_ref,
        _LOG.c.tier,
        _LOG.c.action,
        _LOG.c.purpose,
        _INSTITUTIONS.c.name,
    )
    .outerjoin(
        _INSTITUTIONS,
        (_LOG.c.actor_kind == "institution") & (_INSTITUTIONS.c.client_id == _LOG.c.actor_ref),
    )
    .where(
        _LOG.c.subject_bidx == bindparam("subject_bidx"),
        _LOG.c.decision == "allowed",
        # a constant list rendered into the statement once (no per-execution expansion)
        _LOG.c.tier.in_([literal(tier, String) for tier in sorted(QUERY_TIERS)]),
        _LOG.c.at >= bindparam("since"),
        _LOG.c.seq < bindparam("before_seq"),
    )
    .order_by(_LOG.c.seq.desc())
    .limit(bindparam("limit"))
)


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
        """Chain `attempt` after the head and write it in the unit `db` (Core statements on
        the unit's connection: the hot path of every query). On PostgreSQL the head's lock,
        the entry and the head's move are one statement (`log_append_pg`)."""
        connection = connection_of(db)
        fields, rest = self._encoded(attempt)
        if connection.dialect.name == "postgresql":
            head = append_chained(connection, fields, rest)
        else:
            head = _append_step_by_step(connection, fields, rest)
        now = utcnow()
        if checkpoint_due(head, now, every=self.every, seconds=self.seconds):
            move_head(connection, sign_head(connection, self.signer, head, now))
        return LoggedEntry(head.last_seq, head.last_hash)

    def append_if(
        self,
        connection: Connection,
        attempt: QueryAttempt,
        guarded: GuardedAppend,
        guard_parameters: dict[str, Any],
    ) -> LoggedEntry | None:
        """PostgreSQL: write `attempt` after `guarded`'s guard (the charge), the two as one
        statement, in a unit that is that statement (`Container.statement_unit`). None,
        with nothing written, when the guard took nothing or when a checkpoint would be due
        after this entry: then the caller's unit of work appends with `append` (which signs
        it, and whose failure rolls the charge back)."""
        fields, rest = self._encoded(attempt)
        head = guarded.append(
            connection,
            guard_parameters,
            fields,
            rest,
            checkpoint_every=self.every,
            checkpoint_due_before=utcnow() - timedelta(seconds=self.seconds),
        )
        return None if head is None else LoggedEntry(head.last_seq, head.last_hash)

    def _encoded(self, attempt: QueryAttempt) -> tuple[dict[str, Any], bytes]:
        """The entry's stored fields but its sequence number, and their canonical bytes:
        canonical(entry) = canonical((seq,)) + these bytes, so they are encoded once."""
        fields = self._fields(attempt)
        return fields, canonical(tuple(fields[name] for name in CANONICAL_COLUMNS[1:]))

    def _fields(self, attempt: QueryAttempt) -> dict[str, Any]:
        """The entry's stored fields but its sequence number, in canonical order
        (`CANONICAL_COLUMNS[1:]`)."""
        return {
            # stored and hashed as UTC: SQLite keeps the wall-clock digits only
            "at": attempt.at.astimezone(UTC),
            "actor_kind": attempt.actor_kind,
            "actor_ref": attempt.actor_ref[:64],
            "tier": attempt.tier,
            "action": attempt.action,
            "subject_bidx": attempt.subject_bidx,
            "purpose": attempt.purpose,
            "consent_jti": attempt.consent_jti,
            "decision": attempt.decision,
            "reason": attempt.reason[:64],
            "rule_ids": ",".join(attempt.rule_ids),
            "fields_released": ",".join(attempt.fields_released),
            "fee_fen": attempt.fee_fen,
            "catalog_version": self.catalog_version,
            "policy_version": self.policy_version,
            "request_id": attempt.request_id[:64],
            "client_address": attempt.client_address[:45],
        }

    def entries_about(
        self,
        connection: Connection,
        subject_bidx: bytes,
        *,
        since: datetime,
        viewer_ref: str | None = None,
        limit: int | None = None,
        before_seq: int | None = None,
    ) -> list[QueryRecord]:
        """Allowed queries about the subject in a query tier since `since`, newest first; at
        most `limit` of them, older than the entry `before_seq` when paging.

        `requester` is the institution's name for institutions, "you" for the subject's own
        `self` queries (and for any entry whose actor is `viewer_ref`, the subject's account
        id), "individual" for anyone else. Denied and failed attempts released nothing and are
        left to the compliance review.
        """
        rows = connection.execute(
            ENTRIES_ABOUT,
            {
                "subject_bidx": subject_bidx,
                "since": since.astimezone(UTC),
                "before_seq": _NO_SEQ_BOUND if before_seq is None else before_seq,
                "limit": _NO_LIMIT if limit is None else limit,
            },
        ).all()  # fetched at once: a report shows a hundred of these
        # One pass, no call per row.
        records: list[QueryRecord] = []
        for seq, at, kind, ref, tier, action, purpose, institution in rows:
            if kind == "institution":
                requester = institution if institution is not None else "institution"
            elif tier == "self" or ref == viewer_ref:
                requester = "you"
            else:
                requester = "individual"
            records.append(QueryRecord(shown_time(at), requester, action, purpose, seq))
        return records


def _append_step_by_step(connection: Connection, fields: dict[str, Any], rest: bytes) -> Head:
    """`log_append_pg.append_chained` as three prepared statements (SQLite, where the unit
    already holds the one writer lock): read the head, write the entry, move the head."""
    head = lock_head(connection)
    seq = head.last_seq + 1
    entry_hash = chain_hash(head.last_hash, canonical((seq,)) + rest)
    _INSERT_ENTRY.run(
        connection, {"seq": seq, **fields, "prev_hash": head.last_hash, "entry_hash": entry_hash}
    )
    moved = replace(head, last_seq=seq, last_hash=entry_hash)
    move_head(connection, moved)
    return moved


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
