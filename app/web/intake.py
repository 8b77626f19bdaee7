"""Department intake over the API, for providers' OAuth clients (scope `provider:records:submit`).

- `POST /api/v1/intake/batches`: a batch as the body, `application/x-ndjson` (JSON Lines) or
  `text/csv`, at most `max_api_batch_bytes` (policies/data/intake.toml; larger loads go as a
  signed file). 201 with the receipt (counts; errors by row, field and rule, never a value);
  409 `replayed_batch` for the same bytes again (nothing changes); 403 `not_a_provider` for a
  client that is not a registered provider; 415 for another media type; 413 when too large.
- `GET /api/v1/intake/batches/<id>?after_row=N`: the receipt of one of the caller's own batches
  and its next errors (404 alike for another provider's batch and no batch).
- `GET /api/v1/intake/schema/<type>`: the JSON Schema of a row about a catalog record type (or
  `consent`); public: it holds no personal data.

Bearer-authenticated, so `@public` and `@csrf_exempt` at the gate like the institutions' API.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.auth.callers import caller_for_institution
from app.services.intake.api import ProviderIntake
from app.services.intake.batches import ReplayedBatch
from app.services.intake.schema import intake_rules, row_schema
from app.services.oauth.bearer import InstitutionPrincipal
from app.services.outcomes import refusal_for
from app.services.policy import Action
from app.web.answers import http, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import client_address
from app.web.oauth import require_bearer
from app.web.queries import request_id

bp = Blueprint("intake", __name__, url_prefix="/api/v1/intake")
SCOPE = "provider:records:submit"
MEDIA = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
    "text/csv": "csv",
}
NOT_A_PROVIDER = {
    "error": "not_a_provider",
    "message": "This client is not registered as a data provider.",
}
NO_BATCH = {"error": "not_found", "message": "Not found."}


def _decide(action: Action) -> tuple[Response, int] | None:
    parts = wired()
    principal: InstitutionPrincipal = g.institution
    decision = parts.policy.decide(
        caller_for_institution(principal), action, on=parts.clock.today()
    )
    return None if decision.allowed else http(refusal_for(decision))


@bp.post("/batches")
@bound_to(Action.PROVIDER_RECORDS_SUBMIT)
@public
@csrf_exempt
@require_bearer(SCOPE)
def submit() -> tuple[Response, int]:
    refused = _decide(Action.PROVIDER_RECORDS_SUBMIT)
    if refused is not None:
        return refused
    intake = ProviderIntake(wired())
    principal: InstitutionPrincipal = g.institution
    provider_id = intake.provider_of(principal.institution_id)
    if provider_id is None:
        return jsonify(NOT_A_PROVIDER), 403
    fmt = MEDIA.get((request.mimetype or "").lower())
    if fmt is None:
        return jsonify(
            error="unsupported_media_type",
            message="Send the batch as application/x-ndjson (JSON Lines) or text/csv.",
        ), 415
    request.max_content_length = intake_rules().max_api_batch_bytes
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return jsonify(
            error="request_entity_too_large",
            message="The batch is too large for the API; send a signed file instead.",
        ), 413
    if not body.strip():
        return jsonify(error="bad_request", message="The batch is empty."), 400
    try:
        summary = intake.submit(
            provider_id,
            body,
            fmt,
            actor_ref=principal.client_id,
            request_id=request_id(),
            client_address=client_address(),
        )
    except ReplayedBatch as replay:
        return jsonify(
            error="replayed_batch",
            message="This batch was received and applied already; nothing changed.",
            batch_id=str(replay.batch_id),
        ), 409
    return jsonify(summary), 201


@bp.get("/batches/<uuid:batch_id>")
@bound_to(Action.PROVIDER_BATCH_READ)
@public
@csrf_exempt
@require_bearer(SCOPE)
def batch(batch_id: uuid.UUID) -> tuple[Response, int]:
    refused = _decide(Action.PROVIDER_BATCH_READ)
    if refused is not None:
        return refused
    after = request.args.get("after_row", "0")
    if not after.isdigit() or len(after) > 9:
        return jsonify(error="bad_request", message="after_row is a row number."), 400
    principal: InstitutionPrincipal = g.institution
    summary = ProviderIntake(wired()).receipt_for(
        principal.institution_id, batch_id, after_row=int(after)
    )
    if summary is None:
        return jsonify(NO_BATCH), 404
    return jsonify(summary), 200


@bp.get("/schema/<path:code>")
@bound_to(Action.SERVICE_INTAKE_SCHEMA_READ)
@public
def schema(code: str) -> tuple[Response, int]:
    # The pinned public URL, never the request's Host or X-Forwarded-Host: a caller must not
    # choose the address a schema names itself by.
    parts = wired()
    found = row_schema(parts.catalog, code, base_url=parts.settings.public_url)
    if found is None:
        return jsonify(
            error="not_found", message="No record type of the catalog has this code."
        ), 404
    return jsonify(found), 200
