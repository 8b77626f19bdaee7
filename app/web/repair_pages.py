"""Browser pages for credit repair (the same use cases as the API: every request is one
query-log entry):

- `GET /repairs` (subjects, password + card): their applications with the decision, and their
  penalty records that may be repaired, each with the day it becomes eligible and, once it is,
  a form to apply with evidence files; `POST /repairs` applies (multipart, the route's body
  limit) and redirects (303) back with what happened (`?done=filed` or `?refused=<code>`);
- `GET /registry/repairs` (registrars, password + TOTP + card): the open applications with what
  the subject wrote, links to the evidence, and forms to approve or refuse with a reason;
  `POST /registry/repairs/<id>/approve|refuse` redirect back.
Texts typed are never put back into a page. No inline script or style; never cached; POSTs
carry the session's CSRF token (the gate checks).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from app.services.outcomes import Answered
from app.services.policy import Action
from app.services.querylog.attempt import Body
from app.services.rights.repair import OwnRepairs
from app.services.rights.repair_desk import RepairDesk
from app.web.answers import asker, wired
from app.web.gate import body_limit, bound_to
from app.web.objection_pages import back, form_text, page
from app.web.repairs import UPLOAD_LIMIT, repair_form

bp = Blueprint("repair_pages", __name__)
#: What each outcome code of a form post says on the page it redirects to.
NOTES = {
    "filed": "修复申请已提交，等待登记员决定。 Applied: a registrar will decide.",
    "approved": "已批准：该记录自展示终止日起不再展示。 Approved: the record stops showing.",
    "refused_done": "已拒绝。 Refused.",
    "not_found": "无此记录。 No such record of yours.",
    "not_eligible": "该类记录不适用信用修复。 This kind of record cannot be repaired.",
    "not_displayed": "该记录已不再展示。 The record is no longer shown.",
    "too_early": "最短展示期未满，请于可申请日起再申请。 Too early: apply from the day shown.",
    "repair_open": "该记录已有待决定的申请。 The record has an open application already.",
    "evidence_type": "证明材料须为 PDF、PNG 或 JPEG 文件。 Evidence must be PDF, PNG or JPEG.",
    "evidence_mismatch": "文件内容与其类型不符。 A file is not what its type says.",
    "evidence_too_large": "证明材料文件过大。 An evidence file is too large.",
    "request_entity_too_large": "上传内容过大。 The upload is too large.",
    "bad_request": "内容无效：请填写说明并附证明材料。 Fill in the explanation, attach files.",
    "not_open": "该申请已决定。 This application is decided already.",
    "record_gone": "该记录已撤回。 The record was withdrawn.",
    "own_application": "不得决定与本人有关的申请。 You may not decide your own application.",
    "related_subject": "不得决定亲属的申请。 You may not decide a relative's application.",
}


def _page(template: str, status: int = 200, **context: Any) -> Response:
    note = request.args.get("done") or request.args.get("refused") or ""
    return page(template, status, note=NOTES.get(note), **context)


@bp.get("/repairs")
@bound_to(Action.SELF_REPAIR_READ)
def own() -> Response:
    outcome = OwnRepairs(wired()).listing(asker())
    if not isinstance(outcome, Answered):
        return _page("repairs.html", 403, forbidden=outcome.message, applications=[], records=[])
    document = outcome.document
    rules = wired().repair
    return _page(
        "repairs.html",
        applications=document["applications"],
        records=document["records"],
        open_records={a["record_id"] for a in document["applications"] if a["status"] == "open"},
        limit=rules.explanation_max,
        max_files=rules.max_files,
        max_mib=rules.max_file_bytes // (1024 * 1024),
        forbidden=None,
    )


@bp.post("/repairs")
@bound_to(Action.SELF_REPAIR_CREATE)
@body_limit(UPLOAD_LIMIT)
def apply() -> ResponseReturnValue:
    outcome = OwnRepairs(wired()).apply(asker(), repair_form())
    return back("repair_pages.own", outcome, "filed")


@bp.get("/registry/repairs")
@bound_to(Action.REGISTRY_REPAIR_READ)
def desk() -> Response:
    outcome = RepairDesk(wired()).listing(asker())
    if not isinstance(outcome, Answered):
        return _page("repair_desk.html", 403, forbidden=outcome.message, applications=[])
    return _page("repair_desk.html", applications=outcome.document["applications"], forbidden=None)


def _decision_body() -> Body:
    reason = form_text("reason")
    return Body({"reason": reason} if reason and reason.strip() else {})


@bp.post("/registry/repairs/<application_id>/approve")
@bound_to(Action.REGISTRY_REPAIR_DECIDE)
def approve(application_id: str) -> ResponseReturnValue:
    outcome = RepairDesk(wired()).decide(asker(), application_id, "approved", _decision_body())
    return back("repair_pages.desk", outcome, "approved")


@bp.post("/registry/repairs/<application_id>/refuse")
@bound_to(Action.REGISTRY_REPAIR_DECIDE)
def refuse(application_id: str) -> ResponseReturnValue:
    outcome = RepairDesk(wired()).decide(asker(), application_id, "refused", _decision_body())
    return back("repair_pages.desk", outcome, "refused_done")
