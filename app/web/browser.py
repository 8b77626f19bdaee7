"""Browser pages for the mutual-TLS card login: the password form, the account page, logout.

Guarantees (the login rules themselves live in `app.services.auth.card_login`):
- `GET /login/card` names the card the browser presented (the certificate's subject CN) only
  when the certificate header came from a configured proxy address; a header from anywhere
  else is ignored and logged (by address, never content) and the page says no card was
  presented, with how to fix that;
- `POST /login/card` takes a form (username, password) and runs exactly the JSON mTLS login's
  path (`auth_card.mtls_login`): success ends any previous session, sets a new session id and
  redirects 303 to `/account`; any failure re-renders the form with the one message
  "Login failed." (401), a throttled caller gets 429, malformed input 400 with a generic
  message; the password is never put back into a page or a log;
- `/account` and `/account/logout` are not public: without a session the gate redirects a
  browser to `/login/card`; logout is POST with the session's CSRF token (checked by the gate);
- the pages are HTML without inline script or style (CSP `default-src 'self'`) and are never
  cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.services.auth.card_login import (
    MalformedRequest,
    certificate_common_name,
    certificate_from_header,
    parse_username,
)
from app.services.auth.login_attempts import Outcome
from app.services.policy import Action
from app.web.auth_card import forwarded_certificate, mtls_login, parse_password
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import LOGIN_FAILED, THROTTLED, current_principal, establish
from app.web.session_api import end_session, site_data_cleared

bp = Blueprint("browser", __name__)


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_form(status: int = 200, *, message: str | None = None, username: str = "") -> Response:
    der = certificate_from_header(forwarded_certificate())
    card_name = certificate_common_name(der) if der is not None else None
    return _page("login_card.html", status, card_name=card_name, message=message, username=username)


@bp.get("/login/card")
@bound_to(Action.AUTH_LOGIN_PAGE_READ)
@public
def card_page() -> Response:
    return _login_form()


@bp.post("/login/card")
@bound_to(Action.AUTH_SESSION_CREATE)
@public
@csrf_exempt
def card_login() -> ResponseReturnValue:
    """The form post. CSRF-exempt like the JSON login: there is no session yet to bind a token
    to. Login CSRF (a foreign page logging the victim in to an attacker's account) is mitigated
    by the SameSite=Strict session cookie and by the card certificate, which only the victim's
    own browser holds: a forged post would need the attacker's card in the victim's browser."""
    try:
        username = parse_username(request.form.get("username"))
        password = parse_password(request.form.get("password"))
    except MalformedRequest as exc:
        return _login_form(400, message=exc.message)
    result = mtls_login(username, password)
    if result.outcome is Outcome.THROTTLED:
        response = _login_form(429, message=THROTTLED["message"], username=username)
        response.headers["Retry-After"] = "60"
        return response
    if result.outcome is not Outcome.SUCCESS or result.token is None or result.principal is None:
        return _login_form(401, message=LOGIN_FAILED["message"], username=username)
    establish(result.token, result.principal)
    return redirect(url_for("browser.account"), 303)


@bp.get("/account")
@bound_to(Action.AUTH_SESSION_READ)
def account() -> Response:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    return _page(
        "account.html",
        username=principal.username,
        kind=principal.kind,
        methods=sorted(principal.methods),
        csrf_token=principal.csrf_token,
    )


@bp.post("/account/logout")
@bound_to(Action.AUTH_SESSION_END)
def account_logout() -> ResponseReturnValue:
    end_session()
    return site_data_cleared(redirect(url_for("browser.card_page"), 303))
