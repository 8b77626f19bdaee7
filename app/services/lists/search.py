"""Free search of the public lists (`public:list:search`) by name or ID number, for subjects
logged in with password and card.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- every attempt, allowed or denied (weak login, staff caller, bad input, over the daily
  limit), writes exactly one entry; an ID search names the searched number's blind index (also
  when refused for the daily limit: the compliance review sees whom a scraper was after), a
  name search names no subject;
- an ID number failing its format or check character is refused (400) before anything is
  looked up, and bad input never uses up the daily limit;
- each account has `obligations.daily_limit` searches a day, counted atomically (429 after);
- results hold only displayed public records, masked for the public tier (ID number as first
  6 + last 4, never in full); a search costs one HMAC in the HSM.
"""

from __future__ import annotations

from typing import Protocol

from app.services.billing.allowances import AllowanceService
from app.services.lists.public_lists import BadSearch, PublicListService, SearchTerms
from app.services.outcomes import (
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.reports.assembly import ReportService
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.catalog import Catalog
from policies.decision import Target


class SearchParts(Parts, Protocol):
    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def key_provider(self) -> KeyProvider: ...


def limit_reached() -> Refused:
    return Refused(
        RefusalKind.LIMIT_REACHED,
        "daily_limit_reached",
        "The daily limit for this query is reached; try again tomorrow.",
    )


class PublicListSearch:
    def __init__(self, parts: SearchParts) -> None:
        self.parts = parts
        reports = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
        self.lists = PublicListService(parts.key_provider, reports)

    def search(self, asker: Asker, body: Body) -> Answer:
        return run_logged(
            self.parts, Action.PUBLIC_LIST_SEARCH, asker, lambda q: self._run(q, body)
        )

    def _run(self, q: LoggedQuery, body: Body) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed or decision.obligations is None:
                q.deny(db)
                return refusal_for(decision)
            if body.problem is not None:
                q.deny(db, body.problem)
                return body_refusal(body.problem, body.why)
            try:
                terms = SearchTerms.parse(body.value, today=q.on)
            except BadSearch as exc:
                q.deny(db, "bad_request")
                return bad_input(str(exc))
            q.subject_bidx = self.lists.searched_subject(terms)
            account_id = q.asker.account_id
            assert account_id is not None  # the policy allows subjects' sessions only
            limit = decision.obligations.daily_limit
            if limit is not None and not AllowanceService().take_daily_use(
                db, account_id=account_id, action=q.action.value, day=q.on, limit=limit
            ):
                q.deny(db, "daily_limit_reached")
                return limit_reached()
            found = self.lists.search(db, terms, decision=decision, on=q.on, id_bidx=q.subject_bidx)
            document = {"as_of": q.on.isoformat(), "results": found.entries}
            q.allow(db, released=found.released_fields)
        return Answered(document)
