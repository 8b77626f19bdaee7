"""Review cases for compliance officers (`app.services.review.cases`).

API (staff with the `compliance` role in a password + TOTP session):
- `GET /api/v1/review/cases?state&overdue&cursor&limit` — cases not about the officer;
- `GET /api/v1/review/cases/<id>` — one case, its history and the steps open to the officer;
- `POST /api/v1/review/cases/<id>/steps {"step", "note", "outcome"}` — take, note, clear,
  escalate or close it (four eyes on escalating and closing);
- `POST /api/v1/review/cases {"institution", "note"}` — open a case to lift a suspension.
Pages: `/review/cases` (list, overdue marked, a form to open a lifting case) and
`/review/cases/<id>` (the case and a form per step open to the officer); POST forms carry the
session's CSRF token; a step done comes back to the case, a refused one shows the case
unchanged under the refusal's reason (with the refusal's status). Chinese first, no inline
script, never cached. Every one is a logged query of the officer's.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.services.outcomes import Answer, Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.services.review.cases import LIST_NAMES, STATE_FILTERS, CaseDesk
from app.web.answers import asker, http, sent_body, status_of, wired
from app.web.gate import bound_to
from app.web.identity import current_principal

bp = Blueprint("review_cases", __name__)
FORM_FIELDS = ("step", "note", "outcome")


@bp.get("/api/v1/review/cases")
@bound_to(Action.COMPLIANCE_CASE_READ)
def cases() -> tuple[Response, int]:
    return http(CaseDesk(wired()).page(asker(), _args(*LIST_NAMES)))


@bp.get("/api/v1/review/cases/<uuid:case_id>")
@bound_to(Action.COMPLIANCE_CASE_READ)
def case(case_id: uuid.UUID) -> tuple[Response, int]:
    return http(CaseDesk(wired()).show(asker(), case_id))


@bp.post("/api/v1/review/cases/<uuid:case_id>/steps")
@bound_to(Action.COMPLIANCE_CASE_DECIDE)
def step(case_id: uuid.UUID) -> tuple[Response, int]:
    return http(CaseDesk(wired()).step(asker(), case_id, sent_body()))


@bp.post("/api/v1/review/cases")
@bound_to(Action.COMPLIANCE_CASE_OPEN)
def open_lift() -> tuple[Response, int]:
    return http(CaseDesk(wired()).open_lift(asker(), sent_body()))


# --- pages ---------------------------------------------------------------------------------------


def _args(*names: str) -> dict[str, str | None]:
    return {name: request.args.get(name) for name in names}


def _csrf_token() -> str:
    principal = current_principal()
    return "" if principal is None else principal.csrf_token


def _page(template: str, outcome: Answer, **context: Any) -> Response:
    answered = outcome.document if isinstance(outcome, Answered) else None
    problem = None if isinstance(outcome, Answered) else outcome.body()
    html = render_template(
        template, answer=answered, problem=problem, csrf_token=_csrf_token(), **context
    )
    response = Response(html, status=status_of(outcome))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/review/cases")
@bound_to(Action.COMPLIANCE_CASE_READ)
def cases_page() -> Response:
    sent = _args(*LIST_NAMES)
    kept = {key: value for key, value in sent.items() if value and key != "cursor"}
    outcome = CaseDesk(wired()).page(asker(), sent)
    return _page(
        "review_cases.html",
        outcome,
        kept=kept,
        states=STATE_FILTERS,
        done=request.args.get("done", "")[:40],
    )


@bp.get("/review/cases/<uuid:case_id>")
@bound_to(Action.COMPLIANCE_CASE_READ)
def case_page(case_id: uuid.UUID) -> Response:
    return _page(
        "review_case.html",
        CaseDesk(wired()).show(asker(), case_id),
        done=request.args.get("done", "")[:40],
    )


@bp.post("/review/cases/<uuid:case_id>/steps")
@bound_to(Action.COMPLIANCE_CASE_DECIDE)
def step_form(case_id: uuid.UUID) -> ResponseReturnValue:
    sent = {name: request.form[name] for name in FORM_FIELDS if request.form.get(name)}
    desk = CaseDesk(wired())
    outcome = desk.step(asker(), case_id, Body(sent))
    if isinstance(outcome, Answered):
        target = url_for("review_cases.case_page", case_id=case_id, done=sent.get("step"))
        return redirect(target, 303)
    page = _page("review_case.html", desk.show(asker(), case_id), refusal=outcome.body())
    page.status_code = status_of(outcome)  # the refused step, shown above the unchanged case
    return page


@bp.post("/review/cases")
@bound_to(Action.COMPLIANCE_CASE_OPEN)
def open_lift_form() -> ResponseReturnValue:
    sent = {name: request.form.get(name, "") for name in ("institution", "note")}
    outcome = CaseDesk(wired()).open_lift(asker(), Body(sent))
    if isinstance(outcome, Answered):
        opened = outcome.document["case"]["id"]
        return redirect(url_for("review_cases.case_page", case_id=opened, done="open"), 303)
    return redirect(url_for("review_cases.cases_page", done=outcome.error), 303)
