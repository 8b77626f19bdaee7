"""The public lists as a page: `GET /search` (the form) and `POST /search` (the results).

Guarantees:
- the search runs the API's own use case (`PublicListSearch.search`) with the same asker, so it
  is decided, counted against the daily limit and logged exactly as `POST
  /api/v1/public/lists/search` (one query-log entry per attempt, bad input included);
- one of name or ID number is searched; the results show what the use case released, masked
  for the public tier (an ID number as first 6 + last 4); a searched ID number is never put
  back into the page;
- the views name no database, unit or SQL (import contract "Views name no database").
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, url_for

from app.services.lists.search import PublicListSearch
from app.services.outcomes import Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.web.answers import asker, wired
from app.web.gate import bound_to
from app.web.locale import current
from app.web.pages import form, page, refused_page
from app.web.report_pages import presenter

bp = Blueprint("search_pages", __name__)


@bp.get("/search")
@bound_to(Action.PUBLIC_LIST_SEARCH)
def search_form() -> Response:
    return page("search.html", results=None, name="")


@bp.post("/search")
@bound_to(Action.PUBLIC_LIST_SEARCH)
def search() -> Response:
    body = form(("name", "id_number"))
    if request.form.get("by") in ("name", "id_number") and isinstance(body.value, dict):
        chosen = str(request.form["by"])  # the button pressed: search by that field only
        body = Body({k: v for k, v in body.value.items() if k == chosen})
    answer = PublicListSearch(wired()).search(asker(), body)
    if not isinstance(answer, Answered):
        return refused_page(answer, back=url_for("search_pages.search_form"))
    name = body.value.get("name", "") if isinstance(body.value, dict) else ""
    return page(
        "search.html",
        results=[_result(entry) for entry in answer.document["results"]],
        as_of=answer.document["as_of"],
        name=name,
    )


def _result(entry: dict[str, Any]) -> dict[str, Any]:
    """One found subject's entry: the masked subject, its listings and displayed records."""
    records = presenter().records(entry.get("records") or [], current())
    return {**entry, "shown_records": records}
