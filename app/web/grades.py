"""Grades A–E over the API and in the browser (`app.services.grades.desk`): every request is
one query-log entry; the gate checks the CSRF token on the session POSTs.

- `GET /api/v1/self/grade` and `GET /grade` (subjects, password + card): the grade that counts,
  every factor that moved its score and by how many points, the records each counted, the
  better grades a recent violation held back, and the scorecard's thresholds; "pending" while
  an A or an E waits for its second approval and nothing counts yet;
- `GET /api/v1/registry/grades/approvals[?all=1]` and `GET /registry/grades` (registrars,
  password + TOTP + card): the A and E proposals waiting for a second approval;
- `POST /api/v1/registry/grades/approvals/<id> {"decision": "approve" | "refuse"}`: 403
  `own_proposal` for the registrar who proposed it, 403 `own_grade` for its subject, 409
  `not_pending` once decided; `POST /registry/grades/<id>` is the page's form;
- `POST /api/v1/registry/grades/recompute {"subject_ref"}` grades one subject again (the page's
  form: `POST /registry/grades/recompute`).
No inline script or style; pages are never cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.services.grades.desk import Grades
from app.services.outcomes import Answer, Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.web.answers import asker, http, sent_body, wired
from app.web.gate import bound_to
from app.web.identity import current_principal

bp = Blueprint("grades", __name__)
NOTES = {
    "approved": "已批准：该等级即时生效。 Approved: the grade counts now.",
    "refused": "已驳回：原等级继续有效。 Refused: the previous grade still counts.",
    "recomputed": "已重新评定。 Graded again.",
    "own_proposal": "本人提议的等级须由另一名登记员批准。 Another registrar must approve it.",
    "own_grade": "不得批准本人的等级。 You may not approve your own grade.",
    "not_pending": "该等级已处理或已被取代。 Decided or superseded already.",
    "not_found": "无此记录。 Not found.",
    "bad_request": "请求无效。 Not a valid request.",
}


@bp.get("/api/v1/self/grade")
@bound_to(Action.SELF_GRADE_READ)
def own() -> tuple[Response, int]:
    return http(Grades(wired()).own(asker()))


@bp.get("/api/v1/registry/grades/approvals")
@bound_to(Action.REGISTRY_GRADE_READ)
def approvals() -> tuple[Response, int]:
    every = request.args.get("all") in ("1", "true")
    return http(Grades(wired()).approvals(asker(), include_decided=every))


@bp.post("/api/v1/registry/grades/approvals/<approval_id>")
@bound_to(Action.REGISTRY_GRADE_APPROVE)
def decide(approval_id: str) -> tuple[Response, int]:
    return http(Grades(wired()).decide(asker(), approval_id, sent_body()))


@bp.post("/api/v1/registry/grades/recompute")
@bound_to(Action.REGISTRY_GRADE_RECOMPUTE)
def recompute() -> tuple[Response, int]:
    return http(Grades(wired()).recompute(asker(), sent_body()))


def _page(template: str, outcome: Answer, **context: object) -> Response:
    principal = current_principal()
    note = request.args.get("done") or request.args.get("refused") or ""
    if isinstance(outcome, Answered):
        context.update(outcome.document, forbidden=None)
        status = 200
    else:
        context.update(forbidden=outcome.message)
        status = 403
    context.update(
        csrf_token="" if principal is None else principal.csrf_token,
        note=NOTES.get(note),
        refused="refused" in request.args,
    )
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/grade")
@bound_to(Action.SELF_GRADE_READ)
def own_page() -> Response:
    return _page("grade.html", Grades(wired()).own(asker()), grade=None)


@bp.get("/registry/grades")
@bound_to(Action.REGISTRY_GRADE_READ)
def desk_page() -> Response:
    return _page("grade_desk.html", Grades(wired()).approvals(asker()), approvals=[])


def _back(outcome: Answer, done: str) -> ResponseReturnValue:
    if isinstance(outcome, Answered):
        return redirect(url_for("grades.desk_page", done=done), 303)
    return redirect(url_for("grades.desk_page", refused=outcome.error), 303)


@bp.post("/registry/grades/<approval_id>")
@bound_to(Action.REGISTRY_GRADE_APPROVE)
def decide_form(approval_id: str) -> ResponseReturnValue:
    choice = request.form.get("decision", "")[:16]
    outcome = Grades(wired()).decide(asker(), approval_id, Body({"decision": choice}))
    return _back(outcome, "approved" if choice == "approve" else "refused")


@bp.post("/registry/grades/recompute")
@bound_to(Action.REGISTRY_GRADE_RECOMPUTE)
def recompute_form() -> ResponseReturnValue:
    subject_ref = request.form.get("subject_ref", "")[:64].strip()
    outcome = Grades(wired()).recompute(asker(), Body({"subject_ref": subject_ref}))
    return _back(outcome, "recomputed")
