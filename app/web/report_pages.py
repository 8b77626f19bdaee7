"""The subject's own credit report and query records as pages (after the card + password
login): `GET /report` (what the report is, what it costs, the buttons), `POST /report` (the
report in the PBOC layout), `POST /report/pdf` (the signed PDF) and `GET /records` (who looked
at my report, page by page).

Guarantees:
- each page runs the API's own use case (`OwnReports.read`, `QueryRecords.page`) with the same
  asker, so it is decided, charged and logged exactly as `POST /api/v1/self/reports` and `GET
  /api/v1/self/query-records` are: one query-log entry per attempt, allowed or denied;
- the report shows the document the use case released, nothing else (`report_view`); the PDF
  is the use case's signed attachment, sent as a download;
- a refusal is a page with the API's status code and the reason (402 names the caller's own
  fee order and links to it); a form without the session's CSRF token is refused by the gate
  before anything runs;
- the views name no database, unit or SQL (import contract "Views name no database").
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.services.outcomes import Answered
from app.services.policy import Action
from app.services.querylog.query_records import QueryRecords
from app.services.reports.self_report import OwnReports
from app.web.answers import asker, http, wired
from app.web.gate import bound_to
from app.web.locale import current
from app.web.pages import form, page, refused_page
from app.web.report_view import ReportPresenter

bp = Blueprint("report_pages", __name__)


def presenter() -> ReportPresenter:
    parts = wired()
    return ReportPresenter(parts.catalog, parts.policy.purposes)


@bp.get("/report")
@bound_to(Action.SELF_REPORT_READ)
def report_form() -> Response:
    policy = wired().policy
    return page(
        "report_form.html",
        free_per_year=policy.free_self_reports_per_year,
        order_id=request.args.get("order_id", "")[:36],
    )


@bp.post("/report")
@bound_to(Action.SELF_REPORT_READ)
def report() -> Response:
    answer = OwnReports(wired()).read(asker(), form(("order_id",)), "json")
    if not isinstance(answer, Answered):
        return refused_page(answer)
    return page(
        "report.html",
        report=presenter().view(answer.document, current()),
        order_id=request.form.get("order_id", "")[:36],
    )


@bp.post("/report/pdf")
@bound_to(Action.SELF_REPORT_READ)
def report_pdf() -> Response:
    answer = OwnReports(wired()).read(asker(), form(("order_id",)), "pdf")
    if not isinstance(answer, Answered):
        return refused_page(answer)
    return http(answer)[0]


@bp.get("/records")
@bound_to(Action.SELF_QUERY_LOG_READ)
def query_records() -> Response:
    answer = QueryRecords(wired()).page(
        asker(), request.args.get("limit"), request.args.get("cursor")
    )
    if not isinstance(answer, Answered):
        return refused_page(answer)
    document = answer.document
    return page(
        "query_records.html",
        rows=presenter().query_records(document["query_records"], current()),
        next_cursor=document["next_cursor"],
    )
