"""A subject about themselves: the own credit report and the query records
(`app.services.reports.self_report`, `app.services.querylog.query_records`)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.services.policy import Action
from app.services.querylog.query_records import QueryRecords
from app.services.reports.self_report import OwnReports
from app.web.answers import asker, http, rendering, sent_body, wired
from app.web.gate import bound_to

bp = Blueprint("self_service", __name__, url_prefix="/api/v1/self")


@bp.post("/reports")
@bound_to(Action.SELF_REPORT_READ)
def own_report() -> tuple[Response, int]:
    return http(OwnReports(wired()).read(asker(), sent_body(), rendering()))


@bp.get("/query-records")
@bound_to(Action.SELF_QUERY_LOG_READ)
def query_records() -> tuple[Response, int]:
    limit, cursor = request.args.get("limit"), request.args.get("cursor")
    return http(QueryRecords(wired()).page(asker(), limit, cursor))
