"""The subject's own consents: register a token they signed, list them, revoke one.

- `POST /api/v1/self/consents {"token"}`: the token must be signed by one of the caller's own
  live cards and name the caller as `sub` (see `app.services.consent.consents`); 201 when new,
  200 when it was registered already; 400 with the reason code when refused, 409 `replayed`
  for a jti already registered under other bytes.
- `GET /api/v1/self/consents`: every consent of the caller (uses, expiry, revocation).
- `POST /api/v1/self/consents/<jti>/revoke`: revokes it at once (idempotent), whether or not
  the token was ever registered: any later use of a token the caller signed with that jti is
  refused (`revoked`). 200 with the revocation, and the consent if the caller registered it;
  another subject's jti is answered like one never seen (and stays theirs); a jti that cannot
  be a consent token's answers 400.

Only a subject logged in with password + card reaches these (403 `step_up_required`
otherwise); the gate checks the session's CSRF token on the POSTs. Tokens are never logged
or echoed back.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request

from app.container import container
from app.services.consent.consents import ConsentRefused, ConsentRules, ConsentService, utcnow
from app.services.policy import Action
from app.web.bodies import not_json_message
from app.web.gate import bound_to
from app.web.identity import current_principal

bp = Blueprint("consents", __name__, url_prefix="/api/v1/self/consents")
MAX_TOKEN_CHARS = 8192
REFUSALS = {
    "malformed": "The token is not a well-formed consent token.",
    "unknown_card": "The token is not signed by one of your active cards.",
    "forged_signature": "The token's signature does not verify under your card.",
    "wrong_subject": "The token names someone else as its subject.",
    "unknown_institution": "The token's audience is not a registered institution.",
    "wrong_purpose": "The token's purpose is not one of the allowed purposes.",
    "expired": "The token has expired.",
    "not_yet_valid": "The token is issued in the future.",
    "too_long": "The token is valid for longer than the policy allows.",
    "revoked": "This consent was revoked.",
    "replayed": "A different token with this jti is registered already.",
}


def _service() -> ConsentService:
    return ConsentService(ConsentRules.of(container().policy))


def _subject_id() -> uuid.UUID | tuple[Response, int]:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    if principal.kind != "subject" or principal.subject_id is None:
        return jsonify(error="forbidden", message="Only a subject holds consents."), 403
    if "card" not in principal.methods:
        body = jsonify(error="step_up_required", message="Log in with your smart card first.")
        return body, 403
    return principal.subject_id


@bp.post("")
@bound_to(Action.SELF_CONSENT_CREATE)
def create() -> Response | tuple[Response, int]:
    subject_id = _subject_id()
    if not isinstance(subject_id, uuid.UUID):
        return subject_id
    body = request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        message = not_json_message('Send {"token": <consent token>}.')
        return jsonify(error="bad_request", message=message), 400
    now = utcnow()
    try:
        with container().unit() as db:
            view, new = _service().register(db, token, subject_id=subject_id, now=now)
    except ConsentRefused as refused:
        status = 409 if refused.reason == "replayed" else 400
        message = REFUSALS.get(refused.reason, "The consent token is refused.")
        return jsonify(error=refused.reason, message=message), status
    return jsonify(consent=view.as_json(now)), 201 if new else 200


@bp.get("")
@bound_to(Action.SELF_CONSENT_READ)
def listing() -> Response | tuple[Response, int]:
    subject_id = _subject_id()
    if not isinstance(subject_id, uuid.UUID):
        return subject_id
    now = utcnow()
    with container().unit() as db:
        views = _service().list_for(db, subject_id)
    return jsonify(consents=[view.as_json(now) for view in views])


@bp.post("/<jti>/revoke")
@bound_to(Action.SELF_CONSENT_REVOKE)
def revoke(jti: str) -> Response | tuple[Response, int]:
    subject_id = _subject_id()
    if not isinstance(subject_id, uuid.UUID):
        return subject_id
    now = container().clock.now()
    try:
        with container().unit() as db:
            revocation = _service().revoke(db, jti, subject_id=subject_id, now=now)
    except ConsentRefused:
        message = "That is not a consent token id (jti): 16-128 of A-Z a-z 0-9 _ -."
        return jsonify(error="bad_request", message=message), 400
    return jsonify(revocation.as_json(now))
