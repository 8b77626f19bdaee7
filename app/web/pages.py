"""What every subject's page shares: the HTML answer, the page of a refusal, and the form.

Guarantees:
- a page is HTML without inline script or style (the CSP is `default-src 'self'`), names its
  language, and is never cached (`no-store`);
- a refusal's page says what happened and why in the page's language, with the status code
  the API answers for the same refusal; it shows only what the refusal carries (a reason code,
  an order id the caller owns), never a record, an ID number or a value;
- a stale or missing CSRF token on a form (403), an unknown page or an order that is not the
  caller's (404), a body too large (413) and a service that cannot answer safely (503) have
  their own page for a browser; the API keeps its JSON;
- a form is read into the `Body` a use case takes, without raising: what is missing is left
  out for the use case to refuse and log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Response, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.outcomes import TOO_LARGE, Refused
from app.services.querylog.attempt import Body
from app.web.answers import status_of
from app.web.identity import current_principal

#: error code -> (title, what it means for the reader)
REASONS: Mapping[str, tuple[object, object]] = {
    "payment_required": (
        _l("Payment needed"),
        _l(
            "This report needs a paid order. Pay it at a service counter or through the payment "
            "provider, quoting the order number; then come back to this order."
        ),
    ),
    "not_found": (
        _l("Not found"),
        _l("There is no such page or order for your account."),
    ),
    "gone": (
        _l("No longer available"),
        _l(
            "This report is no longer available: the order was refunded or cancelled, or its "
            "download period has ended."
        ),
    ),
    "daily_limit_reached": (
        _l("Daily limit reached"),
        _l("You have used all of today's searches of the public lists. Try again tomorrow."),
    ),
    "too_many_open_orders": (
        _l("Too many unpaid orders"),
        _l("You hold as many unpaid orders as allowed. Pay one, or wait until one expires."),
    ),
    "step_up_required": (
        _l("Log in with your card"),
        _l("This page needs a login with your card and your password."),
    ),
    "forbidden": (_l("Not allowed"), _l("Your account may not do this.")),
    "bad_request": (_l("Please check what you entered"), _l("The request was not accepted.")),
    "request_entity_too_large": (
        _l("Too large"),
        _l("What you sent is larger than this service accepts."),
    ),
    "csrf_failed": (
        _l("This form has expired"),
        _l(
            "The form was sent with an out-of-date security token (for example from a page "
            "opened before you logged in again, or in another window). Nothing was done. Open "
            "the page again and send the form from there."
        ),
    ),
    "service_unavailable": (
        _l("Service unavailable"),
        _l(
            "The service cannot answer safely right now; nothing was disclosed. Try again in a "
            "minute."
        ),
    ),
}
GENERIC = (_l("Not done"), _l("The request was refused."))


def page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def problem(status: int, error: str, *, detail: str = "", **context: object) -> Response:
    """The page of a refusal or failure named by its `error` code."""
    title, reason = REASONS.get(error, GENERIC)
    return page(
        "problem.html",
        status,
        title=title,
        reason=reason,
        detail=detail,
        error=error,
        **context,
    )


def refused_page(refused: Refused, **context: object) -> Response:
    """The page of a use case's refusal: its status, its reason; for bad input, the use
    case's own sentence (it names the field, never a value)."""
    plain = refused.error in REASONS and refused.error != "bad_request"
    detail = "" if plain else refused.message
    return problem(
        status_of(refused),
        refused.error,
        detail=detail,
        order_id=refused.details.get("order_id"),
        **context,
    )


def wants_page() -> bool:
    """Whether this request is a browser's, to be answered with a page (not the API's JSON)."""
    return not request.path.startswith("/api/") and request.accept_mimetypes.accept_html


def form(fields: Iterable[str]) -> Body:
    """The form's `fields` that were sent (trimmed; empty ones left out), as the body a use
    case reads, or the problem that kept the form from being read."""
    try:
        sent = request.form
    except RequestEntityTooLarge:
        return Body(problem=TOO_LARGE)
    value = {name: sent[name].strip() for name in fields if sent.get(name, "").strip()}
    return Body(value)


def subject_nav() -> dict[str, object]:
    """What the page header needs to show the subject's menu and the logout form."""
    principal = current_principal()
    if principal is None or principal.kind != "subject":
        return {"nav": False}
    return {"nav": True, "nav_username": principal.username, "nav_csrf": principal.csrf_token}
