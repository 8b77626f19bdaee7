"""A subject's query records (查询记录): who looked at their reports, read from the query log.

Guarantees: only allowed entries of the query tiers are shown (denied and failed attempts
released nothing and are the compliance review's), but for a subject's own objections,
statements and inbox (`NOT_QUERY_RECORDS`: logged, yet not looks at the report); a
government agency's query shows the legal basis it cited; a requester is named as an
institution's (or agency's) name, "you" for the subject's own queries, or "individual" for
anyone else — never another person's account id; the subject is found by blind index only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, String, Table, bindparam, literal, select

from app.models.auth import Institution
from app.models.query_log import QueryLogEntry
from policies.actions import NOT_QUERY_RECORDS, QUERY_TIERS


class QueryRecord(NamedTuple):
    """One line of a subject's query records: who looked at them, when, for what (a tuple:
    a report makes a hundred of them)."""

    at: str  # the entry's time in ISO 8601, UTC (as shown)
    requester: str  # institution name | "individual" | "you"
    action: str
    purpose: str | None
    seq: int = 0  # the entry's position: the cursor for the next page, never shown as data
    legal_basis: str | None = None  # a government query's `regulation:reference`

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "at": self.at,
            "requester": self.requester,
            "action": self.action,
            "purpose": self.purpose,
        }
        if self.legal_basis is not None:
            shown["legal_basis"] = self.legal_basis
        return shown


def shown_time(at: datetime) -> str:
    """An entry time as a query record shows it: ISO 8601 in UTC. SQLite gives back the naive
    UTC time the append stored; PostgreSQL an aware one in the session's time zone."""
    if at.tzinfo is None:
        return at.isoformat() + "+00:00"
    return at.astimezone(UTC).isoformat()


_LOG = cast(Table, QueryLogEntry.__table__)
_INSTITUTIONS = cast(Table, Institution.__table__)
NO_SEQ_BOUND = 2**62
_NO_LIMIT = 2**31
#: The subject's allowed query-tier entries since a time, newest first, paged by sequence
#: number; answered from the covering index `ix_query_log_query_records` (migrations 0008,
#: 0110).
ENTRIES_ABOUT = (
    select(
        _LOG.c.seq,
        _LOG.c.at,
        _LOG.c.actor_kind,
        _LOG.c.actor_ref,
        _LOG.c.tier,
        _LOG.c.action,
        _LOG.c.purpose,
        _LOG.c.legal_basis,
        _INSTITUTIONS.c.name,
    )
    .outerjoin(
        _INSTITUTIONS,
        (_LOG.c.actor_kind == "institution") & (_INSTITUTIONS.c.client_id == _LOG.c.actor_ref),
    )
    .where(
        _LOG.c.subject_bidx == bindparam("subject_bidx"),
        _LOG.c.decision == "allowed",
        _LOG.c.tier.in_([literal(tier, String) for tier in sorted(QUERY_TIERS)]),
        _LOG.c.action.not_in([literal(a.value, String) for a in sorted(NOT_QUERY_RECORDS)]),
        _LOG.c.at >= bindparam("since"),
        _LOG.c.seq < bindparam("before_seq"),
    )
    .order_by(_LOG.c.seq.desc())
    .limit(bindparam("limit"))
)


def entries_about(
    connection: Connection,
    subject_bidx: bytes,
    *,
    since: datetime,
    viewer_ref: str | None = None,
    limit: int | None = None,
    before_seq: int | None = None,
) -> list[QueryRecord]:
    """Allowed queries about the subject in a query tier since `since`, newest first; at most
    `limit` of them, older than the entry `before_seq` when paging. `requester` is "you" for
    the subject's own `self` queries and for any entry whose actor is `viewer_ref` (the
    subject's account id)."""
    rows = connection.execute(
        ENTRIES_ABOUT,
        {
            "subject_bidx": subject_bidx,
            "since": since.astimezone(UTC),
            "before_seq": NO_SEQ_BOUND if before_seq is None else before_seq,
            "limit": _NO_LIMIT if limit is None else limit,
        },
    ).all()
    records: list[QueryRecord] = []
    for seq, at, kind, ref, tier, action, purpose, legal_basis, institution in rows:
        if kind == "institution":
            requester = institution if institution is not None else "institution"
        elif tier == "self" or ref == viewer_ref:
            requester = "you"
        else:
            requester = "individual"
        records.append(QueryRecord(shown_time(at), requester, action, purpose, seq, legal_basis))
    return records
