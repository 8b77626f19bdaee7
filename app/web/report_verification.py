"""The public verification of signed PDF reports: an API operation and a page.

Guarantees (the verification itself is `app.services.reports.pdf.verification`'s):
- open to anyone, logged in or not, and bound to `public:report:verify`; every attempt is one
  query-log entry, bad input and over-limit attempts included; the answer is "valid" (with the
  issue time) or "not valid" with its reason, never anything the report says;
- `POST /api/v1/report-verifications` takes the PDF itself (`Content-Type: application/pdf`)
  or `{"reference": ..., "report_id": ...}`; `/verify` is the same as an HTML form (a file
  upload, or the reference and report id typed from a paper copy);
- a body larger than any report is refused (413) before it is read; too many attempts from
  one address in an hour answer 429; the database or the log failing answers 503;
- the pages have no script and no external asset, are Chinese first, and are never cached.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.auth.callers import caller_for
from app.services.outcomes import TOO_LARGE, Answer, Answered, RefusalKind
from app.services.policy import Action
from app.services.querylog.attempt import Asker
from app.services.reports.pdf.layout import city_time
from app.services.reports.pdf.verification import MAX_PDF_BYTES, ReportVerification
from app.web.answers import http, sent_body, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import client_address, current_principal
from app.web.queries import request_id

bp = Blueprint("report_verification", __name__)
#: Room for the form's other fields and the multipart framing around the file.
FORM_OVERHEAD = 16 * 1024
RETRY_AFTER = "3600"
REASONS_ZH = {
    "valid": "有效：本平台签发的信用报告，签名完好。",
    "not_a_pdf": "无效：上传的文件不是 PDF。",
    "not_signed": "无效：文件没有电子签名。",
    "altered": "无效：文件在签名后被改动过（或签名已损坏）。",
    "not_ours": "无效：签名不是本平台的报告签章证书所作。",
    "unknown_document": "无效：本平台没有签发过这个文件。",
    "unknown_reference": "无效：核验码与报告编号不对应任何已签发的报告。",
}
REASONS_EN = {
    "valid": "Valid: a credit report issued by this platform, its signature intact.",
    "not_a_pdf": "Not valid: the file is not a PDF.",
    "not_signed": "Not valid: the file carries no digital signature.",
    "altered": "Not valid: the file was changed after it was signed (or its signature is broken).",
    "not_ours": "Not valid: the signature was not made by this platform's report-signing key.",
    "unknown_document": "Not valid: this platform never issued this file.",
    "unknown_reference": "Not valid: the reference and report id match no issued report.",
}
BAD_INPUTS_ZH = {
    "nothing": "请上传 PDF 文件，或输入核验码与报告编号。",
    "file": "请选择要核验的报告 PDF 文件。",
    "too_large": "文件过大：任何已签发的报告都没有这么大。",
    "reference": "核验码是 20 位字母和数字（如 7KQ2-M9XD-…），印在报告每一页的页脚。",
    "report_id": "报告编号是报告上印的 36 位编号。",
    "request": "请上传 PDF 文件，或输入核验码与报告编号。",
}


def _asker() -> Asker:
    """Whoever asks: nobody logged in, or the session's account."""
    principal = current_principal()
    return Asker(
        caller=caller_for(principal),
        actor_ref="anonymous" if principal is None else str(principal.account_id),
        request_id=request_id(),
        client_address=client_address(),
        account_id=None if principal is None else principal.account_id,
    )


def _retry_later(answer: Answer, response: tuple[Response, int]) -> tuple[Response, int]:
    if not isinstance(answer, Answered) and answer.kind is RefusalKind.LIMIT_REACHED:
        response[0].headers["Retry-After"] = RETRY_AFTER
    return response


@bp.post("/api/v1/report-verifications")
@bound_to(Action.PUBLIC_REPORT_VERIFY)
@public
@csrf_exempt
def verify_api() -> tuple[Response, int]:
    service, who = ReportVerification(wired()), _asker()
    request.max_content_length = MAX_PDF_BYTES
    if request.mimetype == "application/pdf":
        try:
            answer = service.check_document(who, request.get_data(cache=True))
        except RequestEntityTooLarge:
            answer = service.check_document(who, None, TOO_LARGE)
    else:
        answer = service.check_body(who, sent_body())
    return _retry_later(answer, http(answer))


def _page(template: str, status: int = 200, **context: object) -> tuple[Response, int]:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response, status


@bp.get("/verify")
@bound_to(Action.PUBLIC_REPORT_VERIFY)
@public
def verify_page() -> tuple[Response, int]:
    return _page("verify.html")


@bp.post("/verify")
@bound_to(Action.PUBLIC_REPORT_VERIFY)
@public
@csrf_exempt
def verify_form() -> tuple[Response, int]:
    """The form post. CSRF-exempt: it changes nothing for the caller (a forged post could
    only make someone's browser ask whether a file is genuine)."""
    service, who = ReportVerification(wired()), _asker()
    request.max_content_length = MAX_PDF_BYTES + FORM_OVERHEAD
    try:
        upload = request.files.get("document")
        reference = request.form.get("reference", "")
        report_id = request.form.get("report_id", "")
        data = upload.read(MAX_PDF_BYTES + 1) if upload is not None else b""
    except RequestEntityTooLarge:
        return _result(service.check_document(who, None, TOO_LARGE))
    if data:
        return _result(service.check_document(who, data))
    if reference.strip() or report_id.strip():
        return _result(service.check_reference(who, reference, report_id))
    return _result(
        service.refuse_input(
            who, "nothing", "Choose the PDF file, or type the reference and the report id."
        )
    )


def _result(answer: Answer) -> tuple[Response, int]:
    """The page of an answer: the verdict, or the form again saying what was wrong."""
    if isinstance(answer, Answered):
        verdict = answer.document
        reason = "valid" if verdict["valid"] else str(verdict["reason"])
        issued_at = verdict.get("issued_at")
        return _page(
            "verify_result.html",
            valid=bool(verdict["valid"]),
            reason=reason,
            reason_zh=REASONS_ZH[reason],
            reason_en=REASONS_EN[reason],
            issued_at=None if issued_at is None else city_time(_parse(str(issued_at))),
        )
    status = http(answer)[1]
    if answer.kind is RefusalKind.LIMIT_REACHED:
        said = "本地址核验次数过多，请一小时后再试。"
    elif answer.kind is RefusalKind.TOO_LARGE:
        said = BAD_INPUTS_ZH["too_large"]
    elif answer.kind is RefusalKind.BAD_INPUT:
        said = BAD_INPUTS_ZH.get(answer.details.get("input", ""), BAD_INPUTS_ZH["nothing"])
    else:
        said = "现在不能核验。"
    return _retry_later(answer, _page("verify.html", status, message=f"{said} {answer.message}"))


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)
