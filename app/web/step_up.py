"""Card step-up for staff: `POST /api/v1/auth/step-up/card {challenge_id, signature}`.

Guarantees (the rules themselves live in `app.services.auth.step_up`):
- not public: without a live session the gate answers 401; the gate also demands the
  session's CSRF token (`X-CSRF-Token`), 403 without it;
- a session that is not staff with password + TOTP answers 403 `step_up_not_allowed` before
  the body is read: nothing recorded, no challenge consumed;
- malformed input (not a JSON object, a missing or ill-formed challenge id, malformed base64,
  a signature of an impossible length) answers 400 with a generic message and changes nothing;
- every failure of the factor answers 401 with one generic body (the precise reason goes to
  the login-attempt log only) and leaves the session as it was; a throttled caller gets 429;
- success ends the old session, sets the new session id in the cookie and answers
  `{username, kind, roles, methods}`; the new CSRF token comes from `GET /api/v1/auth/session`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.container import container
from app.services.auth.card_login import MalformedRequest
from app.services.auth.step_up import CardStepUp, StepUpOutcome, may_step_up
from app.services.policy import Action
from app.web.auth_card import NOT_JSON, parse_challenge_id, parse_signature
from app.web.bodies import not_json_message
from app.web.gate import bound_to
from app.web.identity import (
    THROTTLED,
    bad_request,
    client_address,
    current_principal,
    current_session_token,
    establish,
    forget,
)

bp = Blueprint("step_up", __name__, url_prefix="/api/v1/auth")
STEP_UP_FAILED = {"error": "step_up_failed", "message": "Step-up failed."}
STEP_UP_NOT_ALLOWED = {
    "error": "step_up_not_allowed",
    "message": "Only staff sessions logged in with password and TOTP can add the card.",
}
SESSION_ENDED = {"error": "authentication_required", "message": "Log in first."}


@bp.post("/step-up/card")
@bound_to(Action.AUTH_SESSION_STEP_UP)
def card_step_up() -> tuple[Response, int]:
    principal = current_principal()
    token = current_session_token()
    assert principal is not None  # the gate admits only logged-in callers
    assert token is not None
    if not may_step_up(principal):
        return jsonify(STEP_UP_NOT_ALLOWED), 403
    body: Any = request.get_json(silent=True)  # over 64 KiB raises 413 before parsing
    if not isinstance(body, dict):
        return bad_request(not_json_message(NOT_JSON))
    try:
        challenge_id = parse_challenge_id(body.get("challenge_id"))
        signature = parse_signature(body.get("signature"))
    except MalformedRequest as exc:
        return bad_request(exc.message)
    parts = container()
    with parts.unit() as db:
        result = CardStepUp(parts.key_provider).step_up(
            db,
            token=token,
            challenge_id=challenge_id,
            signature=signature,
            address=client_address(),
        )
    if result.outcome is StepUpOutcome.SESSION_ENDED:
        forget()
        return jsonify(SESSION_ENDED), 401
    if result.outcome is StepUpOutcome.NOT_ALLOWED:
        return jsonify(STEP_UP_NOT_ALLOWED), 403
    if result.outcome is StepUpOutcome.THROTTLED:
        response = jsonify(THROTTLED)
        response.headers["Retry-After"] = "60"
        return response, 429
    if result.outcome is not StepUpOutcome.SUCCESS or result.token is None:
        return jsonify(STEP_UP_FAILED), 401
    assert result.principal is not None
    establish(result.token, result.principal)
    stepped = result.principal
    return jsonify(
        username=stepped.username,
        kind=stepped.kind,
        roles=sorted(stepped.roles),
        methods=sorted(stepped.methods),
    ), 200
