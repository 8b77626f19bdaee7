"""Statistics for government without subject-level data (ARCHITECTURE §3).

- `GET /api/v1/statistics?from=YYYY-MM-DD&to=YYYY-MM-DD`: for a government or regulator's OAuth
  client (bearer token with scope `statistics:read`); `@public` and `@csrf_exempt` at the gate
  like the institutions' API, since the token authenticates the request.
- `GET /api/v1/review/statistics?...` and the page `GET /review/statistics`: for compliance
  officers (password + TOTP).
Counts by provider, record type, tier and purpose; provider timeliness and rejection rates; any
cell under 10 subjects suppressed, and its complement. Every read is a query-log entry.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request

from app.services.auth.callers import caller_for, caller_for_institution
from app.services.oauth.bearer import InstitutionPrincipal
from app.services.outcomes import refusal_for
from app.services.policy import Action
from app.services.statistics.aggregates import Reader
from app.services.statistics.reads import read_statistics
from app.web.answers import http, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import client_address, current_principal
from app.web.oauth import require_bearer
from app.web.queries import request_id

bp = Blueprint("statistics", __name__)


def _report(reader: Reader) -> tuple[dict[str, Any] | None, str | None]:
    return read_statistics(wired(), reader, request.args.get("from"), request.args.get("to"))


@bp.get("/api/v1/statistics")
@bound_to(Action.STATISTICS_AGGREGATE_READ)
@public
@csrf_exempt
@require_bearer("statistics:read")
def government() -> tuple[Response, int]:
    parts = wired()
    principal: InstitutionPrincipal = g.institution
    decision = parts.policy.decide(
        caller_for_institution(principal),
        Action.STATISTICS_AGGREGATE_READ,
        on=parts.clock.today(),
    )
    if not decision.allowed:
        return http(refusal_for(decision))
    reader = Reader(
        "institution",
        principal.client_id,
        request_id(),
        client_address(),
        Action.STATISTICS_AGGREGATE_READ.value,
    )
    report, problem = _report(reader)
    if report is None:
        return jsonify(error="bad_request", message=problem), 400
    return jsonify(report), 200


def _officer() -> Reader | tuple[Response, int]:
    principal = current_principal()
    parts = wired()
    decision = parts.policy.decide(
        caller_for(principal), Action.COMPLIANCE_STATISTICS_READ, on=parts.clock.today()
    )
    if principal is None or not decision.allowed:
        return http(refusal_for(decision))
    return Reader(
        "staff",
        str(principal.account_id),
        request_id(),
        client_address(),
        Action.COMPLIANCE_STATISTICS_READ.value,
    )


@bp.get("/api/v1/review/statistics")
@bound_to(Action.COMPLIANCE_STATISTICS_READ)
def officer() -> tuple[Response, int]:
    reader = _officer()
    if not isinstance(reader, Reader):
        return reader
    report, problem = _report(reader)
    if report is None:
        return jsonify(error="bad_request", message=problem), 400
    return jsonify(report), 200


@bp.get("/review/statistics")
@bound_to(Action.COMPLIANCE_STATISTICS_READ)
def page() -> Response:
    reader = _officer()
    report: dict[str, Any] | None = None
    problem: str | None = "仅限合规审查员 · For compliance officers only."
    status = 403
    if isinstance(reader, Reader):
        report, problem = _report(reader)
        status = 200 if report is not None else 400
    response = Response(
        render_template("statistics.html", report=report, problem=problem), status=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response
