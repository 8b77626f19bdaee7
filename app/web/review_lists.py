"""Compliance officers review red and black list changes before publication (双公示 review).

API (staff with the `compliance` role, password + TOTP):
- `GET /api/v1/review/list-changes?status=pending` — changes with their confidentiality check;
- `POST /api/v1/review/list-changes/<id>/approve|reject {"note"}` — one review, logged;
- `POST /api/v1/review/lists/derive` — propose today's changes now (also `flask lists derive`);
- `GET /api/v1/review/lists/overdue` — removals still showing after their due day.
Pages: `GET /review/lists` (pending changes, overdue removals, forms to approve or reject and
to derive), with POST forms carrying the session's CSRF token. Officers see references, rules,
record types, field names and masks, never a name, an ID number or a record's values.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.services.auth.callers import caller_for
from app.services.lists.review import Officer, ReviewRefused
from app.services.lists.review_desk import ListReviewDesk
from app.services.outcomes import refusal_for
from app.services.policy import Action
from app.web.answers import http, wired
from app.web.gate import bound_to
from app.web.identity import client_address, current_principal
from app.web.queries import request_id

bp = Blueprint("review_lists", __name__)
STATUSES = ("pending", "approved", "rejected", "withdrawn")
REFUSAL_STATUS = {"not_found": 404, "not_pending": 409, "confidentiality_check_failed": 409}


def _officer(action: Action) -> tuple[Officer | None, tuple[Response, int] | None]:
    principal = current_principal()
    parts = wired()
    decision = parts.policy.decide(caller_for(principal), action, on=parts.clock.today())
    if principal is None or not decision.allowed:
        return None, http(refusal_for(decision))
    return Officer(principal.account_id, request_id(), client_address()), None


def _desk() -> ListReviewDesk:
    return ListReviewDesk(wired())


def _note() -> str | None:
    """The officer's note: at most 200 printable characters (None: refused)."""
    body: Any = request.get_json(silent=True) if request.is_json else request.form
    note = body.get("note", "") if body is not None else ""
    if not isinstance(note, str) or len(note) > 200 or not note.isprintable():
        return None
    return note.strip()


def _decide(change_id: uuid.UUID, approve: bool) -> tuple[Response, int]:
    officer, refused = _officer(Action.COMPLIANCE_LIST_REVIEW)
    if officer is None:
        assert refused is not None
        return refused
    note = _note()
    if note is None or (not approve and not note):
        return jsonify(
            error="bad_request", message='Send {"note": "..."} (required to reject).'
        ), 400
    try:
        view = _desk().decide(change_id, officer, approve=approve, note=note)
    except ReviewRefused as exc:
        return jsonify(error=exc.code, message=exc.message), REFUSAL_STATUS[exc.code]
    return jsonify(change=view), 200


@bp.get("/api/v1/review/list-changes")
@bound_to(Action.COMPLIANCE_LIST_READ)
def changes() -> tuple[Response, int]:
    officer, refused = _officer(Action.COMPLIANCE_LIST_READ)
    if officer is None:
        assert refused is not None
        return refused
    status = request.args.get("status", "pending")
    if status not in STATUSES:
        return jsonify(error="bad_request", message=f"status is one of {STATUSES}"), 400
    return jsonify(changes=_desk().changes(status)), 200


@bp.post("/api/v1/review/list-changes/<uuid:change_id>/approve")
@bound_to(Action.COMPLIANCE_LIST_REVIEW)
def approve(change_id: uuid.UUID) -> tuple[Response, int]:
    return _decide(change_id, True)


@bp.post("/api/v1/review/list-changes/<uuid:change_id>/reject")
@bound_to(Action.COMPLIANCE_LIST_REVIEW)
def reject(change_id: uuid.UUID) -> tuple[Response, int]:
    return _decide(change_id, False)


@bp.post("/api/v1/review/lists/derive")
@bound_to(Action.COMPLIANCE_LIST_DERIVE)
def derive() -> tuple[Response, int]:
    officer, refused = _officer(Action.COMPLIANCE_LIST_DERIVE)
    if officer is None:
        assert refused is not None
        return refused
    return jsonify(_desk().derive().__dict__), 200


@bp.get("/api/v1/review/lists/overdue")
@bound_to(Action.COMPLIANCE_LIST_READ)
def overdue() -> tuple[Response, int]:
    officer, refused = _officer(Action.COMPLIANCE_LIST_READ)
    if officer is None:
        assert refused is not None
        return refused
    return jsonify(overdue=_desk().overdue()), 200


# --- pages ---------------------------------------------------------------------------------------


def _page(status: int = 200, **context: Any) -> Response:
    response = Response(render_template("review_lists.html", **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/review/lists")
@bound_to(Action.COMPLIANCE_LIST_READ)
def page() -> Response:
    officer, _refused = _officer(Action.COMPLIANCE_LIST_READ)
    principal = current_principal()
    if officer is None or principal is None:
        return _page(403, forbidden=True, pending=[], overdue=[], csrf_token="", message=None)
    pending, late = _desk().pending_and_overdue()
    return _page(
        forbidden=False,
        pending=pending,
        overdue=late,
        csrf_token=principal.csrf_token,
        message=request.args.get("done"),
    )


@bp.post("/review/lists/<uuid:change_id>/decide")
@bound_to(Action.COMPLIANCE_LIST_REVIEW)
def decide_form(change_id: uuid.UUID) -> ResponseReturnValue:
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        return _page(400, forbidden=False, pending=[], overdue=[], csrf_token="",
                     message="bad_request")  # fmt: skip
    answer, status = _decide(change_id, decision == "approve")
    outcome = "approved" if decision == "approve" else "rejected"
    if status != 200:
        body = answer.get_json()
        outcome = body.get("error", "refused") if isinstance(body, dict) else "refused"
    return redirect(url_for("review_lists.page", done=outcome), 303)


@bp.post("/review/lists/derive")
@bound_to(Action.COMPLIANCE_LIST_DERIVE)
def derive_form() -> ResponseReturnValue:
    _answer, status = derive()
    outcome = "derived" if status == 200 else "refused"
    return redirect(url_for("review_lists.page", done=outcome), 303)
