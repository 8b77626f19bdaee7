"""`POST /api/v1/institution/reports`: a report about a subject under their consent token.

Body `{"id_number", "purpose", "consent_token"}`. Bearer-authenticated (scope
`institution:report:query`), so `@public` and `@csrf_exempt` at the gate like `whoami`.
Answers: 200 the report (only the purpose's categories within the consent's scope, masked for
institutions); 400 for a malformed body, an ID number failing its check character, a purpose
outside the closed list or a malformed token; 404 `not_found` alike for an unknown subject and
a token not signed by that subject's card; 403 with the consent's reason code (`expired`,
`wrong_audience`, `wrong_purpose`, `wrong_subject`, `revoked`, `used_up`, `replayed`, …);
402 `payment_required` when the prepaid balance does not cover the fee (no use counted);
413 for a body over the size limit; 503 with nothing disclosed when the HSM, the database or
the log cannot do its part. Every attempt past bearer authentication writes one query-log
entry. The ID number and the token are never logged or echoed.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from app.container import container
from app.services.auth.callers import caller_for_institution
from app.services.billing.ledger import LedgerService
from app.services.consent.consents import ConsentRules, ConsentService, utcnow
from app.services.failures import DATABASE_FAILURES, KEY_FAILURES
from app.services.oauth.tokens import InstitutionPrincipal
from app.services.policy import Action
from app.services.querylog.log import record_failure
from app.services.reports.assembly import ReportService
from app.services.reports.institution_report import (
    InstitutionQueries,
    QueryRequest,
    normalised_id_number,
)
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import client_address
from app.web.oauth import require_bearer
from app.web.queries import refusal, request_id

bp = Blueprint("institution_reports", __name__)
MAX_TOKEN_CHARS = 8192
NOT_FOUND = {
    "error": "not_found",
    "message": "No subject with a valid consent for this institution was found.",
}
CONSENT_MESSAGES = {
    "malformed": "The consent token is malformed.",
    "expired": "The consent token has expired.",
    "not_yet_valid": "The consent token is issued in the future.",
    "too_long": "The consent token is valid for longer than the policy allows.",
    "wrong_audience": "The consent token is for another institution.",
    "wrong_purpose": "The consent token does not cover this purpose.",
    "wrong_subject": "The consent token is for another subject.",
    "revoked": "The subject has revoked this consent.",
    "used_up": "The consent token has no uses left.",
    "replayed": "A different token with this id was presented before.",
}


def _bad(message: str) -> tuple[Response, int]:
    return jsonify(error="bad_request", message=message), 400


@bp.post("/api/v1/institution/reports")
@bound_to(Action.INSTITUTION_REPORT_QUERY)
@public
@csrf_exempt
@require_bearer("institution:report:query")
def query() -> Response | tuple[Response, int]:
    parts = container()
    principal: InstitutionPrincipal = g.institution
    queries = InstitutionQueries(
        parts.key_provider,
        parts.policy,
        ConsentService(ConsentRules.of(parts.policy)),
        ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version),
        LedgerService(),
        parts.query_log(),
    )
    body = request.get_json(silent=True)
    fields = ("id_number", "purpose", "consent_token")
    values = [body.get(name) for name in fields] if isinstance(body, dict) else []
    problem: tuple[str, str] | None = None
    if not isinstance(body, dict) or set(body) != set(fields):
        problem = ("malformed_body", 'Send {"id_number", "purpose", "consent_token"} only.')
    elif not all(isinstance(v, str) and v for v in values):
        problem = ("malformed_body", "id_number, purpose and consent_token must be strings.")
    elif len(values[2]) > MAX_TOKEN_CHARS or len(values[0]) > 32:
        problem = ("malformed_body", "A field is longer than allowed.")
    elif normalised_id_number(values[0]) is None:
        problem = ("bad_id_number", "id_number is not a valid ID number (check character).")
    elif values[1] not in parts.policy.purposes:
        problem = ("bad_purpose", "purpose is not one of the allowed purposes.")
    if problem is not None:
        known = values[1] if len(values) == 3 and values[1] in parts.policy.purposes else None
        with parts.unit() as db:
            queries.refuse_input(
                db,
                client_id=principal.client_id,
                request_id=request_id(),
                client_address=client_address(),
                reason=problem[0],
                purpose=known,
            )
        return _bad(problem[1])
    raw_id, purpose, token = values
    id_number = normalised_id_number(raw_id)
    assert id_number is not None
    asked = QueryRequest(
        client_id=principal.client_id,
        institution_id=principal.institution_id,
        caller=caller_for_institution(principal),
        id_number=id_number,
        purpose=purpose,
        consent_token=token,
        request_id=request_id(),
        client_address=client_address(),
    )
    bidx = None
    try:
        bidx = queries.subject_index(asked)
        with parts.unit() as db:
            outcome = queries.run(db, asked, bidx, now=utcnow())
    except (*KEY_FAILURES, *DATABASE_FAILURES):
        record_failure(parts, queries.attempt_for(asked, bidx))
        raise  # answered 503 by app.web.errors, nothing disclosed
    if outcome.report is not None:
        return jsonify(outcome.report)
    if outcome.not_found:
        return jsonify(NOT_FOUND), 404
    if outcome.refused == "insufficient_funds":
        return jsonify(
            error="payment_required",
            message="The prepaid balance does not cover this query's fee; top it up first.",
        ), 402
    if outcome.refused is not None:
        status = 400 if outcome.refused == "malformed" else 403
        message = CONSENT_MESSAGES.get(outcome.refused, "The consent token is refused.")
        return jsonify(error=outcome.refused, message=message), status
    assert outcome.decision is not None
    return refusal(outcome.decision)
