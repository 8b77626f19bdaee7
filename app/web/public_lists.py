"""Free search of the public lists (administrative penalties and licensing, dishonest judgment
debtors) by name or ID number, for subjects logged in with password and card.

Guarantees:
- every attempt, allowed or denied (weak login, staff caller, bad input, over the daily
  limit), writes exactly one query-log entry in the same unit of work; an ID search names the
  searched ID's blind index, a name search no subject;
- an ID number failing its check character is refused with 400 before anything is looked up,
  and bad input never uses up the daily limit;
- each account has `obligations.daily_limit` searches a day, counted atomically (429 after);
- results hold only displayed public records, masked for the public tier (ID number as first
  6 + last 4, never in full); a search costs one HMAC in the HSM.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.services.billing.allowances import AllowanceService
from app.services.lists.public_lists import BadSearch, PublicListService, SearchTerms
from app.services.policy import Action, Target
from app.services.reports.assembly import ReportService
from app.web.gate import bound_to
from app.web.queries import limit_reached, refusal
from app.web.query_call import QueryCall, bad_request, body, body_refusal

bp = Blueprint("public_lists", __name__, url_prefix="/api/v1/public/lists")


@bp.post("/search")
@bound_to(Action.PUBLIC_LIST_SEARCH)
def search() -> tuple[Response, int]:
    call = QueryCall(Action.PUBLIC_LIST_SEARCH)
    principal = call.principal
    assert principal is not None  # the gate admits only logged-in callers here
    parts = call.parts
    with call.unit() as unit, parts.orm(unit) as db:  # the search reads through the ORM
        decision = call.decide(Target())
        if not decision.allowed or decision.obligations is None:
            return call.deny(db, decision.reason, refusal(decision))
        sent, problem = body()
        if problem is not None:
            return call.deny(db, problem, body_refusal(problem))
        try:
            terms = SearchTerms.parse(sent, today=call.on)
        except BadSearch as exc:
            return call.deny(db, "bad_request", bad_request(str(exc)))
        reports = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
        service = PublicListService(parts.key_provider, reports)
        limit = decision.obligations.daily_limit
        if limit is not None and not AllowanceService().take_daily_use(
            db, account_id=principal.account_id, action=call.action.value, day=call.on, limit=limit
        ):
            # whom the refused ID search was after, for the compliance review
            call.subject_bidx = service.searched_subject(terms)
            return call.deny(db, "daily_limit_reached", limit_reached())
        found = service.search(db, terms, decision=decision, on=call.on)
        call.subject_bidx = found.subject_bidx
        call.log(db, "allowed", decision.reason, fields_released=found.released_fields)
    return jsonify(as_of=call.on.isoformat(), results=found.entries), 200
