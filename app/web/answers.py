"""The web side of every use case: who asks (`asker`), what they sent (`sent_body`), and the
HTTP answer of an outcome (`http`).

Guarantees:
- `sent_body()` never raises: a body over the size limit or not JSON is handed to the use case
  as a problem it logs and refuses, never a 500 before the attempt is logged;
- `http(outcome)` is the one mapping of outcomes to status codes (a document asked for as a
  file, e.g. the signed PDF, is sent as that file instead of JSON); a refusal's body is
  `{"error", "message", ...details}` and never names a record, an ID number or a value; a 503
  Retry-After and the like come from the error handlers (`app.web.errors`), not from here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.container import Container, container
from app.services.auth.callers import PAYMENT_PROVIDER, caller_for, caller_for_institution
from app.services.oauth.bearer import InstitutionPrincipal
from app.services.outcomes import (
    MALFORMED,
    TOO_LARGE,
    Answer,
    Answered,
    RefusalKind,
)
from app.services.querylog.attempt import Asker, Body
from app.web.bodies import not_json_message
from app.web.identity import client_address, current_principal
from app.web.queries import request_id

_STATUS: dict[RefusalKind, int] = {
    RefusalKind.BAD_INPUT: 400,
    RefusalKind.UNAUTHENTICATED: 401,
    RefusalKind.PAYMENT_REQUIRED: 402,
    RefusalKind.FORBIDDEN: 403,
    RefusalKind.NOT_FOUND: 404,
    RefusalKind.CONFLICT: 409,
    RefusalKind.GONE: 410,
    RefusalKind.TOO_LARGE: 413,
    RefusalKind.LIMIT_REACHED: 429,
}


def wired() -> Container:
    """The application's wired parts, for constructing use cases (views name nothing else of
    the database: an import-linter contract holds them to it)."""
    return container()


def http(outcome: Answer) -> tuple[Response, int]:
    if isinstance(outcome, Answered):
        status = 201 if outcome.created else 200
        attached = outcome.attachment
        if attached is not None:
            response = Response(attached.content, mimetype=attached.media_type)
            response.headers["Content-Disposition"] = f'attachment; filename="{attached.filename}"'
            return response, status
        return jsonify(outcome.document), status
    return jsonify(outcome.body()), _STATUS[outcome.kind]


def status_of(outcome: Answer) -> int:
    """The status code `http(outcome)` answers with (for pages that render an outcome)."""
    if isinstance(outcome, Answered):
        return 201 if outcome.created else 200
    return _STATUS[outcome.kind]


def asker() -> Asker:
    """The logged-in person asking (the gate let only a live session through)."""
    principal = current_principal()
    if principal is None:
        raise RuntimeError("a use case for people runs behind the login gate")
    return Asker(
        caller=caller_for(principal),
        actor_ref=str(principal.account_id),
        request_id=request_id(),
        client_address=client_address(),
        account_id=principal.account_id,
        subject_id=principal.subject_id,
    )


def institution_asker() -> Asker:
    """The institution behind the request's verified bearer token (`require_bearer`)."""
    principal: InstitutionPrincipal = g.institution
    return Asker(
        caller=caller_for_institution(principal),
        actor_ref=principal.client_id,
        request_id=request_id(),
        client_address=client_address(),
        institution_id=principal.institution_id,
    )


def provider_asker() -> Asker:
    """The payment provider, once a notification's signature verified."""
    return Asker(
        caller=PAYMENT_PROVIDER,
        actor_ref="payment-provider",
        request_id=request_id(),
        client_address=client_address(),
    )


def sent_body() -> Body:
    """The request's JSON body, or the problem that kept it from being read."""
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return Body(problem=TOO_LARGE)
    if not raw.strip():
        return Body()
    parsed: Any = request.get_json(silent=True, force=True)
    if parsed is None:
        return Body(problem=MALFORMED, why=not_json_message("The body must be a JSON object."))
    return Body(parsed)


#: The renderings a report can be asked for in: `?format=` or the `Accept` header.
RENDERINGS = {"json": "application/json", "pdf": "application/pdf"}


def rendering() -> str:
    """The rendering the request asks for: `?format=json|pdf` if given (anything else is
    passed on as it is, for the use case to refuse and log), else the better match of the
    `Accept` header (JSON when it prefers neither)."""
    asked = request.args.get("format")
    if asked is not None:
        return asked[:16]
    best = request.accept_mimetypes.best_match(
        [RENDERINGS["json"], RENDERINGS["pdf"]], default=RENDERINGS["json"]
    )
    return "pdf" if best == RENDERINGS["pdf"] else "json"
