"""`POST /api/v1/institution/reports`: a report about a subject under their consent token
(`app.services.reports.institution_report`). Bearer-authenticated (scope
`institution:report:query`), so `@public` and `@csrf_exempt` at the gate like `whoami`."""

from __future__ import annotations

from flask import Blueprint, Response

from app.services.policy import Action
from app.services.reports.institution_report import InstitutionReports
from app.web.answers import http, institution_asker, sent_body, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.oauth import require_bearer

bp = Blueprint("institution_reports", __name__)


@bp.post("/api/v1/institution/reports")
@bound_to(Action.INSTITUTION_REPORT_QUERY)
@public
@csrf_exempt
@require_bearer("institution:report:query")
def query() -> tuple[Response, int]:
    return http(InstitutionReports(wired()).query(institution_asker(), sent_body()))
