"""Browser pages for statements (the same use cases as the API: every request is one
query-log entry): `GET /statements` (subjects, password + card) lists their records by kind
and date (no contents) with a form to attach a statement, and their statements with a button
to withdraw each; `POST /statements` and `POST /statements/<id>/withdraw` redirect (303) back
with what happened. No inline script or style; never cached; POSTs carry the CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from app.services.outcomes import Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.services.rights.statements import OwnStatements
from app.web.answers import asker, wired
from app.web.gate import bound_to
from app.web.objection_pages import back, form_text, page

bp = Blueprint("statement_pages", __name__)


@bp.get("/statements")
@bound_to(Action.SELF_STATEMENT_READ)
def own() -> Response:
    outcome = OwnStatements(wired()).listing(asker())
    if not isinstance(outcome, Answered):
        return page("statements.html", 403, forbidden=outcome.message, statements=[], records=[])
    document = outcome.document
    stated = {s["record_id"] for s in document["statements"] if s["status"] == "active"}
    return page(
        "statements.html",
        statements=document["statements"],
        records=document["records"],
        stated=stated,
        limit=wired().rights.statement_text_max,
        forbidden=None,
    )


@bp.post("/statements")
@bound_to(Action.SELF_STATEMENT_CREATE)
def make() -> ResponseReturnValue:
    body = {"record_id": request.form.get("record_id", ""), "text": form_text("text")}
    outcome = OwnStatements(wired()).make(asker(), Body(body))
    return back("statement_pages.own", outcome, "made")


@bp.post("/statements/<statement_id>/withdraw")
@bound_to(Action.SELF_STATEMENT_WITHDRAW)
def withdraw(statement_id: str) -> ResponseReturnValue:
    outcome = OwnStatements(wired()).withdraw(asker(), statement_id)
    return back("statement_pages.own", outcome, "withdrawn")
