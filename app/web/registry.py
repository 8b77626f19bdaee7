"""Registrars' API: enrol a subject, issue a card, replace a lost one; and a subject's own
lost-card report.

- `POST /api/v1/registry/subjects {id_number, name, username, password}` → 201;
- `POST /api/v1/registry/accounts/<username>/cards {public_key}` → 201 (the certificate, PEM,
  to write onto the card next to the key it certifies);
- `POST /api/v1/registry/accounts/<username>/cards/replace {public_key, reason}` → 201;
- `POST /api/v1/self/cards/report-lost {username, password}` → 200, public (the card is what
  is missing) and CSRF-exempt (no session to protect); throttled like a login; any refusal is
  the same 401 body.

Registry routes need a staff session with password + TOTP + card and the `registrar` role
(401 without a session, 403 `step_up_required` without the card, 403 otherwise). Every
request past the policy check writes one query-log entry (`app.services.enrolment`); a refused
step answers 400/404/409 with a message that never echoes a value. Nothing here logs an ID
number, a password or a key.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.services.auth.accounts import login_username
from app.services.auth.callers import caller_for
from app.services.auth.cards import UnsupportedKey
from app.services.auth.login_attempts import Outcome
from app.services.enrolment.desk import LostCardAnswer, RegistryDesk
from app.services.enrolment.registrar import REPLACEMENT_REASONS, IssuedCard, public_key_der
from app.services.enrolment.steps import Actor, StepOutcome
from app.services.outcomes import refusal_for
from app.services.policy import Action
from app.web.answers import http, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import (
    LOGIN_FAILED,
    THROTTLED,
    bad_request,
    client_address,
    current_principal,
)
from app.web.queries import request_id

bp = Blueprint("registry", __name__)
MAX_FIELD = 4096
#: The HTTP status of each refusal code of a step.
STATUS = {
    "no_such_subject": 404,
    "already_enrolled": 409,
    "username_taken": 409,
    "has_active_card": 409,
    "account_disabled": 409,
    "name_mismatch": 409,
}


def _fields(*names: str) -> dict[str, str] | None:
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - set(names):
        return None
    picked: dict[str, str] = {}
    for name in names:
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
            return None
        picked[name] = value
    return picked


def registrar_actor(action: Action) -> tuple[Actor | None, tuple[Response, int] | None]:
    principal = current_principal()
    parts = wired()
    decision = parts.policy.decide(caller_for(principal), action, on=parts.clock.today())
    if principal is None or not decision.allowed:
        return None, http(refusal_for(decision))
    return Actor("staff", principal.account_id, request_id(), client_address()), None


def _refused(outcome: StepOutcome) -> tuple[Response, int]:
    assert outcome.refused is not None
    status = STATUS.get(outcome.refused, 400)
    return jsonify(error=outcome.refused, message=outcome.message), status


@bp.post("/api/v1/registry/subjects")
@bound_to(Action.REGISTRY_SUBJECT_ENROL)
def enrol() -> tuple[Response, int]:
    actor, refused = registrar_actor(Action.REGISTRY_SUBJECT_ENROL)
    if actor is None:
        assert refused is not None
        return refused
    body = _fields("id_number", "name", "username", "password")
    if body is None:
        return bad_request('Send {"id_number", "name", "username", "password"} as strings.')
    outcome = RegistryDesk(wired()).enrol(
        actor,
        id_number=body["id_number"],
        name=body["name"],
        username=body["username"],
        password=body["password"],
    )
    if not outcome.done:
        return _refused(outcome)
    return jsonify(
        username=outcome.username,
        subject_ref=str(outcome.subject_id),
        new_subject=outcome.new_subject,
    ), 201


def _card_answer(outcome: IssuedCard) -> tuple[Response, int]:
    if not outcome.done:
        return _refused(outcome)
    assert outcome.not_after is not None
    return jsonify(
        thumbprint=outcome.thumbprint,
        serial=outcome.serial,
        not_after=outcome.not_after.isoformat(),
        certificate_pem=outcome.certificate_pem,
        cards_revoked=outcome.cards_revoked,
        sessions_ended=outcome.sessions_ended,
    ), 201


@bp.post("/api/v1/registry/accounts/<username>/cards")
@bound_to(Action.REGISTRY_CARD_ISSUE)
def issue_card(username: str) -> tuple[Response, int]:
    actor, refused = registrar_actor(Action.REGISTRY_CARD_ISSUE)
    if actor is None:
        assert refused is not None
        return refused
    body = _fields("public_key")
    if body is None:
        return bad_request('Send {"public_key": "<the card\'s public key, PEM>"}.')
    try:
        spki = public_key_der(body["public_key"])
    except UnsupportedKey as exc:
        return bad_request(f"The card's public key is refused: {exc}.")
    outcome = RegistryDesk(wired()).issue_card(actor, username=username, public_key_der=spki)
    return _card_answer(outcome)


@bp.post("/api/v1/registry/accounts/<username>/cards/replace")
@bound_to(Action.REGISTRY_CARD_REPLACE)
def replace_card(username: str) -> tuple[Response, int]:
    actor, refused = registrar_actor(Action.REGISTRY_CARD_REPLACE)
    if actor is None:
        assert refused is not None
        return refused
    body = _fields("public_key", "reason")
    if body is None or body["reason"] not in REPLACEMENT_REASONS:
        return bad_request(
            'Send {"public_key": "<PEM>", "reason": one of ' + ", ".join(REPLACEMENT_REASONS) + "}."
        )
    try:
        spki = public_key_der(body["public_key"])
    except UnsupportedKey as exc:
        return bad_request(f"The card's public key is refused: {exc}.")
    outcome = RegistryDesk(wired()).replace_card(
        actor, username=username, public_key_der=spki, reason=body["reason"]
    )
    return _card_answer(outcome)


def report_lost_card(username: str, password: str) -> LostCardAnswer:
    """The lost-card report shared by the API and the browser form."""
    actor = Actor("anonymous", None, request_id(), client_address())
    return RegistryDesk(wired()).report_lost_card(actor, username=username, password=password)


@bp.post("/api/v1/self/cards/report-lost")
@bound_to(Action.AUTH_CARD_REPORT_LOST)
@public
@csrf_exempt
def report_lost() -> tuple[Response, int]:
    body = _fields("username", "password")
    username = None if body is None else login_username(body["username"])
    if body is None or username is None:
        return bad_request('Send {"username", "password"}: a username is 1-64 of a-z 0-9 . _ -.')
    answer = report_lost_card(username, body["password"])
    if answer.outcome is Outcome.THROTTLED:
        return jsonify(THROTTLED), 429
    if answer.outcome is not Outcome.SUCCESS:
        return jsonify(LOGIN_FAILED), 401
    return jsonify(
        status="cards_revoked",
        cards_revoked=answer.cards_revoked,
        sessions_ended=answer.sessions_ended,
    ), 200
