"""Reading the query log for compliance officers: keyset pages of entries, and one entry.

Guarantees:
- a page is at most `limit + 1` rows read newest first below the cursor (`seq < cursor`),
  every filter a plain comparison the indexes of migration 0070 lead with, so a page costs the
  same at any size of the log and nothing is ever read whole into memory;
- an actor is found by its reference (account id, client id) or, for people, by username and,
  for institutions, by unified social credit code: always one reference, so that a page of
  one actor is one ordered range of `(actor_ref, seq)`;
- what leaves here is metadata: who, when, the action, the decision and its rule ids, the
  purpose, the consent id, the request id, the subject's blind index (hex) and the *names* of
  the released fields. An entry holds no released value, and nothing here reads one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import Connection, Row, Table, select

from app.models import Account, Institution, QueryLogEntry
from app.services.querylog.records import shown_time
from app.services.review.filters import SearchFilters

#: A row of any columns (SQLAlchemy 2.1 types rows by their columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
_LOG = cast(Table, QueryLogEntry.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_INSTITUTIONS = cast(Table, Institution.__table__)
_SUMMARY = (
    _LOG.c.seq,
    _LOG.c.at,
    _LOG.c.actor_kind,
    _LOG.c.actor_ref,
    _LOG.c.tier,
    _LOG.c.action,
    _LOG.c.subject_bidx,
    _LOG.c.purpose,
    _LOG.c.consent_jti,
    _LOG.c.decision,
    _LOG.c.reason,
    _LOG.c.fee_fen,
    _LOG.c.request_id,
)


def actor_refs(connection: Connection, actor: str) -> list[str]:
    """The one reference `actor` names: itself when some entry has it as its actor, else the
    id of the account with that username, else the client id of the institution with that
    credit code, else itself. One reference, so a page is one ordered range of the
    `(actor_ref, seq)` index."""
    known = connection.execute(select(_LOG.c.seq).where(_LOG.c.actor_ref == actor).limit(1)).first()
    if known is not None:
        return [actor]
    account = connection.execute(
        select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.username == actor.casefold())
    ).scalar()
    if account is not None:
        return [str(account)]
    client = connection.execute(
        select(_INSTITUTIONS.c.client_id).where(_INSTITUTIONS.c.credit_code == actor.upper())
    ).scalar()
    return [actor if client is None else str(client)]


def find_entries(
    connection: Connection, filters: SearchFilters, refs: Sequence[str] = ()
) -> list[AnyRow]:
    """Up to `filters.limit + 1` entries matching `filters`, newest first (the extra one says
    whether there is a next page); `refs` are the actor references (`actor_refs`)."""
    query = select(*_SUMMARY).order_by(_LOG.c.seq.desc()).limit(filters.limit + 1)
    if filters.before_seq is not None:
        query = query.where(_LOG.c.seq < filters.before_seq)
    if filters.since is not None:
        query = query.where(_LOG.c.at >= filters.since)
    if filters.until is not None:
        query = query.where(_LOG.c.at < filters.until)
    if filters.actor is not None:
        (ref,) = refs or [filters.actor]
        query = query.where(_LOG.c.actor_ref == ref)
    equal = {
        "actor_kind": filters.actor_kind,
        "tier": filters.tier,
        "action": filters.action,
        "decision": filters.decision,
        "reason": filters.reason,
        "purpose": filters.purpose,
        "consent_jti": filters.consent_id,
        "request_id": filters.request_id,
        "subject_bidx": filters.subject_bidx,
    }
    for name, value in equal.items():
        if value is not None:
            query = query.where(_LOG.c[name] == value)
    return list(connection.execute(query).all())


def summary(row: AnyRow) -> dict[str, Any]:
    """One entry as a search result shows it."""
    return {
        "seq": row.seq,
        "at": shown_time(cast(datetime, row.at)),
        "actor_kind": row.actor_kind,
        "actor_ref": row.actor_ref,
        "tier": row.tier,
        "action": row.action,
        "decision": row.decision,
        "reason": row.reason,
        "purpose": row.purpose,
        "consent_id": row.consent_jti,
        "request_id": row.request_id,
        "subject_bidx": None if row.subject_bidx is None else bytes(row.subject_bidx).hex(),
        "fee_fen": row.fee_fen,
    }


def entry_at(connection: Connection, seq: int) -> AnyRow | None:
    """Every stored column of the entry at `seq` (columns added later come along too)."""
    return connection.execute(select(_LOG).where(_LOG.c.seq == seq)).first()


def actor_name(connection: Connection, kind: str, ref: str) -> str | None:
    """A staff member's username or an institution's name; None for anyone else (a subject's
    username is theirs, not the review's)."""
    if kind == "institution":
        name = connection.execute(
            select(_INSTITUTIONS.c.name).where(_INSTITUTIONS.c.client_id == ref)
        ).scalar()
        return None if name is None else str(name)
    account = uuid_or_none(ref)
    if kind == "staff" and account is not None:
        username = connection.execute(
            select(_ACCOUNTS.c.username).where(
                _ACCOUNTS.c.id == account, _ACCOUNTS.c.kind == "staff"
            )
        ).scalar()
        return None if username is None else str(username)
    return None


def detail(row: AnyRow, name: str | None) -> dict[str, Any]:
    """One entry as its page shows it: the summary, the rule ids, the names of the fields
    released (never a value), the versions it was decided under and its place in the chain."""
    return {
        **summary(row),
        "actor_name": name,
        "rule_ids": [rule for rule in row.rule_ids.split(",") if rule],
        "fields_released": [field for field in row.fields_released.split(",") if field],
        "catalog_version": row.catalog_version,
        "policy_version": row.policy_version,
        "client_address": row.client_address,
        "entry_hash": bytes(row.entry_hash).hex(),
    }


def uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
