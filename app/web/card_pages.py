"""The subject's lost-card page: `GET /card/lost` (the form) and `POST /card/lost`.

Public and CSRF-exempt like the login form (there is no session: the card is what is missing);
it runs exactly the API's report (`app.web.registry.report_lost_card`): throttled and recorded
like a login, every active card revoked and every session ended on success. Any failure shows
the one message "Login failed." (401), a throttled caller 429; the password is never put back
into the page. No inline script or style; never cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from app.services.auth.accounts import login_username
from app.services.auth.login_attempts import Outcome
from app.services.policy import Action
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import LOGIN_FAILED, THROTTLED
from app.web.registry import report_lost_card

bp = Blueprint("card_pages", __name__)


def _page(status: int = 200, **context: object) -> Response:
    values: dict[str, object] = {"username": "", "message": None, "done": False}
    values.update(context)
    response = Response(render_template("card_lost.html", **values), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/card/lost")
@bound_to(Action.AUTH_CARD_REPORT_LOST)
@public
def lost_form() -> Response:
    return _page()


@bp.post("/card/lost")
@bound_to(Action.AUTH_CARD_REPORT_LOST)
@public
@csrf_exempt
def report_lost() -> Response:
    username = login_username(request.form.get("username"))
    password = request.form.get("password") or ""
    if username is None or not password or len(password) > 1024:
        return _page(400, message="Enter your username and password.")
    answer = report_lost_card(username, password)
    if answer.outcome is Outcome.THROTTLED:
        return _page(429, message=THROTTLED["message"], username=username)
    if answer.outcome is not Outcome.SUCCESS:
        return _page(401, message=LOGIN_FAILED["message"], username=username)
    return _page(
        done=True, cards_revoked=answer.cards_revoked, sessions_ended=answer.sessions_ended
    )
