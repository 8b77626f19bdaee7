"""The compliance officers' console over the query log: search it, read one entry, list the
disclosures nothing explains (ARCHITECTURE §10).

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a staff session holding the `compliance` role with password + TOTP is allowed (the
  policy decides first: nobody else causes a blind index to be computed or a row to be read);
- every search, entry view and report is itself one entry of the log (`compliance:log:search`,
  `compliance:log:read`, `compliance:disclosure:read`), allowed or denied, which the other
  officers find like any other. A search by subject records the blind index, never the ID
  number: the number typed is validated, indexed (one HSM call) and dropped;
- bad input (a malformed filter, an ID number failing its check, a position never handed out)
  is a logged denial and a 400 that names the filter, never the value;
- answers hold metadata and decisions: who, when, the decision and its rule ids, the purpose,
  the consent or order that explains a disclosure, and the names of the fields released, never
  a released value; pages are keyset pages over `seq` read in a snapshot, released once the
  entry of the reading has committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from app.services.outcomes import Answer, Answered, bad_input, body_refusal, not_found, refusal_for
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.review.explain import Explainer, Verdict, disclosures, is_disclosure
from app.services.review.filters import (
    NO_SEQ_BOUND,
    BadFilter,
    SearchFilters,
    parse_cursor,
    parse_limit,
    parse_moment,
    parse_search,
)
from app.services.review.log_search import (
    AnyRow,
    actor_name,
    actor_refs,
    detail,
    entry_at,
    find_entries,
    summary,
)
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.decision import Target

#: Disclosures checked per call of the report at most (then `next_cursor` goes on).
SCAN_BUDGET, SCAN_BATCH = 2000, 500
REPORT_DEFAULT, REPORT_MAX = 100, 500


class ReviewParts(Parts, Protocol):
    @property
    def key_provider(self) -> KeyProvider: ...


class LogReview:
    def __init__(self, parts: ReviewParts) -> None:
        self.parts = parts

    # --- search -------------------------------------------------------------------------------

    def search(self, asker: Asker, sent: Body) -> Answer:
        """A page of entries matching the filters `sent` (a JSON object; see `filters`)."""
        return run_logged(
            self.parts, Action.COMPLIANCE_LOG_SEARCH, asker, lambda q: self._search(q, sent)
        )

    def _index(self, number: str) -> bytes:
        return blind_index(self.parts.key_provider, BlindIndexKind.CITIZEN_ID, number)

    def _search(self, q: LoggedQuery, sent: Body) -> Answer:
        decision = q.decide(Target())
        filters: SearchFilters | None = None
        refused: tuple[str, Any] | None = None
        if decision.allowed:
            filters, refused = self._filters(sent)
        rows: list[AnyRow] = []
        if filters is not None:
            q.subject_bidx = filters.subject_bidx
            with q.snapshot() as db:
                refs = actor_refs(db, filters.actor) if filters.actor is not None else []
                rows = find_entries(db, filters, refs)
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if filters is None:
                assert refused is not None
                q.deny(db, refused[0])
                return refused[1]  # type: ignore[no-any-return]
            shown = rows[: filters.limit]
            more = len(rows) > filters.limit
            document = {
                "entries": [summary(row) for row in shown],
                "next_cursor": str(shown[-1].seq) if more else None,
                "filters": filters.echo(),
            }
            q.allow(db)
        return Answered(document)

    def _filters(self, sent: Body) -> tuple[SearchFilters | None, tuple[str, Any] | None]:
        if sent.problem is not None:
            return None, (sent.problem, body_refusal(sent.problem, sent.why))
        value = {} if sent.value is None else sent.value
        if not isinstance(value, Mapping):
            return None, ("malformed_body", bad_input("Send the filters as a JSON object."))
        try:
            return parse_search(value, self._index), None
        except BadFilter as bad:
            return None, (bad.code, bad_input(str(bad)))

    # --- one entry ----------------------------------------------------------------------------

    def entry(self, asker: Asker, seq: int) -> Answer:
        """The entry at `seq`: who, when, the decision and its rules, the purpose, the names of
        the fields released, and for a disclosure what explains it."""
        return run_logged(
            self.parts, Action.COMPLIANCE_LOG_READ, asker, lambda q: self._entry(q, seq)
        )

    def _entry(self, q: LoggedQuery, seq: int) -> Answer:
        decision = q.decide(Target())
        row: AnyRow | None = None
        name: str | None = None
        verdict: Verdict | None = None
        if decision.allowed and 1 <= seq <= NO_SEQ_BOUND:
            with q.snapshot() as db:
                row = entry_at(db, seq)
                if row is not None:
                    name = actor_name(db, row.actor_kind, row.actor_ref)
                    if is_disclosure(row, self.parts.policy.releasing_actions):
                        verdict = Explainer(db).verdicts([row])[0]
        if row is not None:
            q.subject_bidx = None if row.subject_bidx is None else bytes(row.subject_bidx)
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if row is None:
                q.deny(db, "not_found")
                return not_found("No entry at that position.")
            document = {
                "entry": detail(row, name),
                "explanation": None if verdict is None else verdict.as_dict(),
            }
            q.allow(db)
        return Answered(document)

    # --- disclosures nothing explains ---------------------------------------------------------

    def unexplained(self, asker: Asker, sent: Mapping[str, str | None]) -> Answer:
        """Disclosures no subject, paid order, consent or legal basis explains, oldest first:
        `from`, `to` (a period), `cursor` (go on after this position), `limit` (how many to
        list). At most `SCAN_BUDGET` disclosures are checked per call; `next_cursor` goes on."""
        return run_logged(
            self.parts,
            Action.COMPLIANCE_DISCLOSURE_READ,
            asker,
            lambda q: self._unexplained(q, sent),
        )

    def _unexplained(self, q: LoggedQuery, sent: Mapping[str, str | None]) -> Answer:
        decision = q.decide(Target())
        try:
            since = parse_moment("from", sent.get("from") or None, end=False)
            until = parse_moment("to", sent.get("to") or None, end=True)
            after = parse_cursor(sent.get("cursor") or None) or 0
            limit = parse_limit(sent.get("limit") or None, REPORT_DEFAULT, REPORT_MAX)
            if since is not None and until is not None and since >= until:
                raise BadFilter("from must be before to.")
            problem = None
        except BadFilter as bad:
            problem = str(bad)
        found: list[tuple[AnyRow, Verdict]] = []
        scanned, last, exhausted = 0, 0, False
        if decision.allowed and problem is None:
            releasing = self.parts.policy.releasing_actions
            last = after
            with q.snapshot() as db:
                explainer = Explainer(db)
                while scanned < SCAN_BUDGET and len(found) < limit and not exhausted:
                    batch = min(SCAN_BATCH, SCAN_BUDGET - scanned)
                    rows = disclosures(
                        db, releasing, after_seq=last, limit=batch, since=since, until=until
                    )
                    read_all = True
                    for row, verdict in zip(rows, explainer.verdicts(rows), strict=True):
                        scanned, last = scanned + 1, row.seq
                        if not verdict.explained:
                            found.append((row, verdict))
                        if len(found) >= limit and row is not rows[-1]:
                            read_all = False
                            break
                    exhausted = read_all and len(rows) < batch
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if problem is not None:
                q.deny(db, "bad_request")
                return bad_input(problem)
            document = {
                "unexplained": [
                    {**summary(row), "problem": verdict.problem} for row, verdict in found
                ],
                "scanned": scanned,
                "next_cursor": None if exhausted else str(last),
            }
            q.allow(db)
        return Answered(document)
