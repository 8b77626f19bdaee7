"""The subject's inbox (`app.services.rights.inbox`): `GET /api/v1/self/inbox` (JSON) and
`GET /inbox` (the browser page), subjects with password + card only, one query-log entry per
request. The page shows the same messages as the API; no inline script or style; never
cached."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from app.services.outcomes import Answered
from app.services.policy import Action
from app.services.rights.inbox import Inbox
from app.web.answers import asker, http, wired
from app.web.gate import bound_to

bp = Blueprint("inbox", __name__)
KINDS = {
    "objection_outcome": "异议答复 Objection answered",
    "prior_notice": "不良信息告知 Prior notice",
    "list_removal": "移出名单 List removal",
    "consent_use": "授权使用 Consent used",
    "repair_decision": "信用修复决定 Repair decision",
}


@bp.get("/api/v1/self/inbox")
@bound_to(Action.SELF_INBOX_READ)
def messages() -> tuple[Response, int]:
    return http(Inbox(wired()).read(asker()))


@bp.get("/inbox")
@bound_to(Action.SELF_INBOX_READ)
def page() -> Response:
    outcome = Inbox(wired()).read(asker())
    if isinstance(outcome, Answered):
        context = {"messages": outcome.document["messages"], "forbidden": None, "kinds": KINDS}
        status = 200
    else:
        context = {"messages": [], "forbidden": outcome.message, "kinds": KINDS}
        status = 403
    response = Response(render_template("inbox.html", **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
