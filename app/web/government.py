"""Government and administrative queriers (`app.services.government`).

- `POST /api/v1/government/reports`: an agency's report about a subject on a legal basis;
  bearer-authenticated (scope `government:report:query`), so `@public` and `@csrf_exempt` at
  the gate like the institutions' API.
- `GET /api/v1/review/government-queries?limit=&cursor=` and the page
  `GET /review/government-queries`: compliance officers (password + TOTP) list the government
  tier's entries with the legal basis each cited; the reading is itself logged.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from app.services.government.reports import GovernmentReports
from app.services.government.review import GovernmentQueryReview
from app.services.outcomes import Answer, Answered
from app.services.policy import Action
from app.web.answers import asker, http, institution_asker, sent_body, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.oauth import require_bearer

bp = Blueprint("government", __name__)


@bp.post("/api/v1/government/reports")
@bound_to(Action.GOVERNMENT_REPORT_QUERY)
@public
@csrf_exempt
@require_bearer("government:report:query")
def query() -> tuple[Response, int]:
    return http(GovernmentReports(wired()).query(institution_asker(), sent_body()))


def _review() -> Answer:
    return GovernmentQueryReview(wired()).page(
        asker(), request.args.get("limit"), request.args.get("cursor")
    )


@bp.get("/api/v1/review/government-queries")
@bound_to(Action.COMPLIANCE_GOVERNMENT_QUERY_READ)
def review() -> tuple[Response, int]:
    return http(_review())


@bp.get("/review/government-queries")
@bound_to(Action.COMPLIANCE_GOVERNMENT_QUERY_READ)
def review_page() -> Response:
    outcome = _review()
    _, status = http(outcome)
    if isinstance(outcome, Answered):
        page = render_template("government_queries.html", document=outcome.document)
    else:
        page = render_template("government_queries.html", problem=outcome.message)
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
