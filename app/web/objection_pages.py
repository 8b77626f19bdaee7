"""Browser pages for objections (the same use cases as the API: every request is one
query-log entry):

- `GET /objections` (subjects, password + card): their records by kind and date (no contents)
  each with a form to object to it, and their objections with the stage, the due day, the
  outcome and the reason; `POST /objections` files one and redirects (303) back with what
  happened (`?done=filed` or `?refused=<code>`);
- `GET /registry/objections` (registrars, password + TOTP + card): the open objections by due
  day with what the subject wrote and a form to answer each, and the upheld ones with a form
  to record their next stage (reconsideration, court); `POST /registry/objections/<id>/resolve`
  and `.../escalate` redirect back.
Refused callers see the refusal's message; texts typed are never put back into a page. No
inline script or style; never cached; POSTs carry the session's CSRF token (the gate checks).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.services.outcomes import Answer, Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.services.rights.objections import OwnObjections
from app.services.rights.resolution import ObjectionDesk
from app.web.answers import asker, wired
from app.web.gate import bound_to
from app.web.identity import current_principal

bp = Blueprint("objection_pages", __name__)
MAX_FORM_TEXT = 4000
#: What each outcome code of a form post says on the page it redirects to.
NOTES = {
    "filed": "异议已提交：该记录即时标注为“异议中”。 Filed: the record is marked under objection.",
    "resolved": "已答复。 Answered.",
    "escalated": "已记录新阶段。 The next stage is recorded.",
    "made": "声明已附加：凡展示该记录之处一并展示。 Made: shown with the record.",
    "withdrawn": "声明已撤回。 Withdrawn: shown nowhere now.",
    "statement_exists": "该记录已有您的声明，请先撤回。 The record has your statement already.",
    "objection_open": "该记录已有未答复的异议。 The record is under an open objection already.",
    "not_found": "无此记录。 No such record of yours.",
    "bad_request": "内容无效（须为 1 至上限字数）。 The text is empty or too long.",
    "not_open": "该异议已答复。 This objection is answered already.",
    "not_corrected": "数据提供单位尚未更正该记录。 The provider has not corrected the record.",
    "cannot_escalate": "只有被维持的异议可进入下一阶段。 Only an upheld objection goes on.",
    "own_objection": "不得处理与本人有关的异议。 You may not answer an objection about yourself.",
}


def page(template: str, status: int = 200, **context: Any) -> Response:
    principal = current_principal()
    context.setdefault("csrf_token", "" if principal is None else principal.csrf_token)
    note = request.args.get("done") or request.args.get("refused")
    context.setdefault("note", NOTES.get(note or ""))
    context.setdefault("refused", "refused" in request.args)
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def back(endpoint: str, outcome: Answer, done: str) -> ResponseReturnValue:
    if isinstance(outcome, Answered):
        return redirect(url_for(endpoint, done=done), 303)
    return redirect(url_for(endpoint, refused=outcome.error), 303)


def form_text(name: str) -> str | None:
    value = request.form.get(name)
    return None if value is None else value[:MAX_FORM_TEXT]


@bp.get("/objections")
@bound_to(Action.SELF_OBJECTION_READ)
def own() -> Response:
    outcome = OwnObjections(wired()).listing(asker())
    if not isinstance(outcome, Answered):
        return page("objections.html", 403, forbidden=outcome.message, objections=[], records=[])
    document = outcome.document
    under = {o["record_id"] for o in document["objections"] if o["under_objection"]}
    return page(
        "objections.html",
        objections=document["objections"],
        records=document["records"],
        under=under,
        limit=wired().rights.objection_text_max,
        forbidden=None,
    )


@bp.post("/objections")
@bound_to(Action.SELF_OBJECTION_CREATE)
def file() -> ResponseReturnValue:
    body = {"record_id": request.form.get("record_id", ""), "text": form_text("text")}
    outcome = OwnObjections(wired()).file(asker(), Body(body))
    return back("objection_pages.own", outcome, "filed")


@bp.get("/registry/objections")
@bound_to(Action.REGISTRY_OBJECTION_READ)
def desk() -> Response:
    outcome = ObjectionDesk(wired()).listing(asker(), include_resolved=True)
    if not isinstance(outcome, Answered):
        return page("objection_desk.html", 403, forbidden=outcome.message, objections=[], upheld=[])
    every = outcome.document["objections"]
    return page(
        "objection_desk.html",
        objections=[o for o in every if o["status"] == "open"],
        upheld=[o for o in every if o["outcome"] == "upheld" and o["stage"] != "court"],
        forbidden=None,
    )


@bp.post("/registry/objections/<objection_id>/resolve")
@bound_to(Action.REGISTRY_OBJECTION_RESOLVE)
def resolve(objection_id: str) -> ResponseReturnValue:
    body: dict[str, Any] = {"outcome": request.form.get("outcome", "")}
    reason = form_text("reason")
    if reason and reason.strip():
        body["reason"] = reason
    corrected = (request.form.get("corrected_record_id") or "").strip()
    if corrected:
        body["corrected_record_id"] = corrected[:64]
    outcome = ObjectionDesk(wired()).resolve(asker(), objection_id, Body(body))
    return back("objection_pages.desk", outcome, "resolved")


@bp.post("/registry/objections/<objection_id>/escalate")
@bound_to(Action.REGISTRY_OBJECTION_ESCALATE)
def escalate(objection_id: str) -> ResponseReturnValue:
    body = {"stage": request.form.get("stage", "")}
    outcome = ObjectionDesk(wired()).escalate(asker(), objection_id, Body(body))
    return back("objection_pages.desk", outcome, "escalated")
