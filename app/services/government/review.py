"""The compliance review's list of government queries (`compliance:government_query:read`).

Every government query is put in the compliance review (ARCHITECTURE §1, §10): this lists the
government tier's entries — allowed, denied and failed — newest first, paged by sequence
number, each with the agency, its purpose, the legal basis it cited, the decision and the
reason. It is deliberately small (the compliance console, with flags and cases, is its own
work); it is the officers' way to find every such entry.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`): only staff with
the compliance role and a TOTP login read it; the reading is itself one entry (tier
`compliance`, so other officers see it); an entry is shown by metadata only — never the
subject (not even the blind index) and never a released value, only the released fields'
names; the page is read from the partial index over the government tier (migration 0110).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, literal_column, select

from app.models import Account, AccountRole, Institution, QueryLogEntry, Role
from app.services.outcomes import Answer, Answered, bad_input, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, Parts, run_logged
from app.services.querylog.query_records import PAGE_MAX, Page, parse_page
from app.services.querylog.records import NO_SEQ_BOUND, shown_time
from policies.actions import Action
from policies.decision import Caller, Target

_LOG = cast(Table, QueryLogEntry.__table__)
_INSTITUTIONS = cast(Table, Institution.__table__)
_PAGE_HINT = f"limit must be 1..{PAGE_MAX}; cursor must come from next_cursor."


def government_entries(connection: Connection, page: Page) -> list[dict[str, Any]]:
    """At most `page.limit` government-tier entries older than `page.before_seq`, newest
    first, as the review shows them."""
    before = NO_SEQ_BOUND if page.before_seq is None else page.before_seq
    rows = connection.execute(
        select(
            _LOG.c.seq,
            _LOG.c.at,
            _LOG.c.actor_ref,
            _INSTITUTIONS.c.name,
            _LOG.c.purpose,
            _LOG.c.legal_basis,
            _LOG.c.decision,
            _LOG.c.reason,
            _LOG.c.fields_released,
            _LOG.c.request_id,
        )
        .outerjoin(_INSTITUTIONS, _INSTITUTIONS.c.client_id == _LOG.c.actor_ref)
        # the tier as a literal, so the planner can match the partial index's predicate
        .where(_LOG.c.tier == literal_column("'government'"), _LOG.c.seq < before)
        .order_by(_LOG.c.seq.desc())
        .limit(page.limit)
    ).all()
    return [
        {
            "seq": row.seq,
            "at": shown_time(row.at),
            "agency": row.name,
            "client_id": row.actor_ref,
            "purpose": row.purpose,
            "legal_basis": row.legal_basis,
            "decision": row.decision,
            "reason": row.reason,
            "fields_released": [f for f in row.fields_released.split(",") if f],
            "request_id": row.request_id,
        }
        for row in rows
    ]


class GovernmentQueryReview:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def page(self, asker: Asker, limit: str | None, cursor: str | None) -> Answer:
        page = parse_page(limit, cursor)
        return run_logged(
            self.parts,
            Action.COMPLIANCE_GOVERNMENT_QUERY_READ,
            asker,
            lambda q: self._run(q, page),
        )

    def _run(self, q: LoggedQuery, page: Page | None) -> Answer:
        decision = q.decide(Target())
        entries: list[dict[str, Any]] = []
        if decision.allowed and page is not None:
            with q.snapshot() as db:
                entries = government_entries(db, Page(page.limit + 1, page.before_seq))
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if page is None:
                q.deny(db, "bad_request")
                return bad_input(_PAGE_HINT)
            shown = entries[: page.limit]
            more = len(entries) > page.limit
            document = {
                "government_queries": shown,
                "next_cursor": str(shown[-1]["seq"]) if more else None,
            }
            q.allow(db)
        return Answered(document)


def officer_at_the_console(parts: Parts, username: str, request_id: str) -> Asker | None:
    """The asker behind `flask government queries --officer NAME`: an active account holding
    the compliance role (None otherwise). The operator's shell on the server stands for the
    password + TOTP login; the entry names the account and the address `cli`."""
    with parts.snapshot() as db:
        account = db.execute(
            select(Account.id, Account.status).where(Account.username == username)
        ).one_or_none()
        roles = (
            set()
            if account is None
            else set(
                db.execute(
                    select(AccountRole.role).where(AccountRole.account_id == account.id)
                ).scalars()
            )
        )
    if account is None or account.status != "active" or Role.COMPLIANCE.value not in roles:
        return None
    caller = Caller("staff", frozenset({"password", "totp"}), frozenset(roles))
    return Asker(caller, str(account.id), request_id, "cli", account_id=account.id)
