"""A subject's query records (`self:query_log:read`): who looked at them, page by page.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`): only a subject
logged in with password and card sees the records about the subject their account is linked
to; every attempt writes exactly one entry; the page is read in a snapshot and released only
once the entry has committed; `limit` is 1..500 and `cursor` a position this endpoint handed
out (a whole number up to 2^62): anything else is bad input (400), never a database error.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.outcomes import Answer, Answered, bad_input, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, Parts, run_logged
from app.services.querylog.records import NO_SEQ_BOUND, QueryRecord, entries_about
from app.services.reports.assembly import query_records_since, subject_by_id
from policies.actions import Action
from policies.decision import Target

PAGE_DEFAULT, PAGE_MAX = 100, 500
_PAGE_HINT = f"limit must be 1..{PAGE_MAX}; cursor must come from next_cursor."


@dataclass(frozen=True)
class Page:
    limit: int
    before_seq: int | None


def parse_page(limit: str | None, cursor: str | None) -> Page | None:
    """The page `?limit=&cursor=` asks for, or None when either is malformed."""
    raw_limit = str(PAGE_DEFAULT) if limit is None else limit
    if not (raw_limit.isascii() and raw_limit.isdigit()) or len(raw_limit) > 3:
        return None
    if not 1 <= int(raw_limit) <= PAGE_MAX:
        return None
    if cursor is None:
        return Page(int(raw_limit), None)
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 19:
        return None
    before = int(cursor)
    if not 1 <= before <= NO_SEQ_BOUND:
        return None
    return Page(int(raw_limit), before)


class QueryRecords:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def page(self, asker: Asker, limit: str | None, cursor: str | None) -> Answer:
        page = parse_page(limit, cursor)
        return run_logged(
            self.parts, Action.SELF_QUERY_LOG_READ, asker, lambda q: self._run(q, page)
        )

    def _run(self, q: LoggedQuery, page: Page | None) -> Answer:
        entries: list[QueryRecord] = []
        with q.snapshot() as db:
            subject = subject_by_id(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if decision.allowed and subject is not None and page is not None:
                entries = entries_about(
                    db,
                    subject.id_bidx,
                    since=query_records_since(q.on),
                    viewer_ref=q.asker.actor_ref,
                    limit=page.limit + 1,
                    before_seq=page.before_seq,
                )
        with q.unit() as db:
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            if page is None:
                q.deny(db, "bad_request")
                return bad_input(_PAGE_HINT)
            shown = entries[: page.limit]
            more = len(entries) > page.limit
            document = {
                "query_records": [entry.as_dict() for entry in shown],
                "next_cursor": str(shown[-1].seq) if more else None,
            }
            q.allow(db)
        return Answered(document)
