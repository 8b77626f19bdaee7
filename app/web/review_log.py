"""The compliance officers' console over the query log (`app.services.review`).

API (staff with the `compliance` role in a password + TOTP session):
- `POST /api/v1/review/log/search {filters…}` — a page of entries, newest first; the subject
  is sent as an ID number in the body (never in a URL, which lands in access logs) or as the
  hex blind index the previous page echoed;
- `GET /api/v1/review/log/entries/<seq>` — one entry and what explains it;
- `GET /api/v1/review/disclosures/unexplained?from&to&cursor&limit` — disclosures nothing
  explains;
- `GET /api/v1/review/consents/<id>/verification` — a consent's signature verified again;
- `GET /api/v1/review/flags?rule&severity&cursor&limit` — what the review rules flagged.
Pages: `/review/log` (search form and results; the ID number only by the form's POST),
`/review/log/<seq>`, `/review/disclosures`, `/review/consents/<id>`, `/review/flags`. Chinese
first, no inline script or style, never cached. Every one is a logged query of the officer's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from app.services.outcomes import Answer, Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.services.review.consent_check import ConsentCheck
from app.services.review.console import LogReview
from app.services.review.explain import EXPLAINED_BY
from app.services.review.filters import ACTOR_KINDS, DECISIONS, SUBJECT_IN_LINK, TIERS
from app.services.review.flags import NAMES as FLAG_FILTERS
from app.services.review.flags import FlagList
from app.web.answers import asker, http, sent_body, status_of, wired
from app.web.gate import bound_to
from app.web.identity import current_principal

bp = Blueprint("review_log", __name__)
_ACTIONS = sorted(action.value for action in Action)


@bp.post("/api/v1/review/log/search")
@bound_to(Action.COMPLIANCE_LOG_SEARCH)
def search() -> tuple[Response, int]:
    return http(LogReview(wired()).search(asker(), sent_body()))


@bp.get("/api/v1/review/log/entries/<int:seq>")
@bound_to(Action.COMPLIANCE_LOG_READ)
def entry(seq: int) -> tuple[Response, int]:
    return http(LogReview(wired()).entry(asker(), seq))


@bp.get("/api/v1/review/disclosures/unexplained")
@bound_to(Action.COMPLIANCE_DISCLOSURE_READ)
def unexplained() -> tuple[Response, int]:
    return http(LogReview(wired()).unexplained(asker(), _args("from", "to", "cursor", "limit")))


@bp.get("/api/v1/review/flags")
@bound_to(Action.COMPLIANCE_FLAG_READ)
def flags() -> tuple[Response, int]:
    return http(FlagList(wired()).page(asker(), _args(*FLAG_FILTERS)))


@bp.get("/api/v1/review/consents/<jti>/verification")
@bound_to(Action.COMPLIANCE_CONSENT_VERIFY)
def consent(jti: str) -> tuple[Response, int]:
    return http(ConsentCheck(wired()).verify(asker(), jti[:200]))


# --- pages ---------------------------------------------------------------------------------------


def _args(*names: str) -> dict[str, str | None]:
    return {name: request.args.get(name) for name in names}


def _page(template: str, outcome: Answer, **context: Any) -> Response:
    answered = outcome.document if isinstance(outcome, Answered) else None
    problem = None if isinstance(outcome, Answered) else outcome.body()
    html = render_template(template, answer=answered, problem=problem, **context)
    response = Response(html, status=status_of(outcome))
    response.headers["Cache-Control"] = "no-store"
    return response


def _csrf_token() -> str:
    principal = current_principal()
    return "" if principal is None else principal.csrf_token


def _search_page(sent: Body) -> Response:
    return _page(
        "review_log.html",
        LogReview(wired()).search(asker(), sent),
        actor_kinds=ACTOR_KINDS,
        decisions=DECISIONS,
        tiers=TIERS,
        actions=_ACTIONS,
        csrf_token=_csrf_token(),
    )


@bp.get("/review/log")
@bound_to(Action.COMPLIANCE_LOG_SEARCH)
def log_page() -> Response:
    sent = {key: value for key, value in request.args.items() if key != "subject"}
    if "subject" in request.args:  # a number in a link is already in some access log
        sent[SUBJECT_IN_LINK] = "refused"
    return _search_page(Body(sent))


@bp.post("/review/log")
@bound_to(Action.COMPLIANCE_LOG_SEARCH)
def log_form() -> Response:
    return _search_page(Body({k: v for k, v in request.form.items() if k != "csrf_token"}))


@bp.get("/review/log/<int:seq>")
@bound_to(Action.COMPLIANCE_LOG_READ)
def entry_page(seq: int) -> Response:
    return _page("review_entry.html", LogReview(wired()).entry(asker(), seq), kinds=EXPLAINED_BY)


@bp.get("/review/disclosures")
@bound_to(Action.COMPLIANCE_DISCLOSURE_READ)
def disclosures_page() -> Response:
    sent = _args("from", "to", "cursor", "limit")
    outcome = LogReview(wired()).unexplained(asker(), sent)
    kept = {key: value for key, value in sent.items() if value and key != "cursor"}
    return _page("review_disclosures.html", outcome, kept=kept)


@bp.get("/review/flags")
@bound_to(Action.COMPLIANCE_FLAG_READ)
def flags_page() -> Response:
    sent = _args(*FLAG_FILTERS)
    kept = {key: value for key, value in sent.items() if value and key != "cursor"}
    return _page("review_flags.html", FlagList(wired()).page(asker(), sent), kept=kept)


@bp.get("/review/consents/<jti>")
@bound_to(Action.COMPLIANCE_CONSENT_VERIFY)
def consent_page(jti: str) -> Response:
    return _page("review_consent.html", ConsentCheck(wired()).verify(asker(), jti[:200]))
