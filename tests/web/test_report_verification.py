"""The public verification of signed PDF reports: the API operation and the page, on real
issued PDFs (sealed records, SoftHSM2 signatures), both backends."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry
from app.services.reports.pdf import SignedReport
from tests.pdf.helpers import (
    a_subject,
    flip_signed_byte,
    issue,
    report_document,
    with_incremental_update,
)
from tests.web.self_helpers import refuse_log_entries

API = "/api/v1/report-verifications"
ACTION = "public:report:verify"


@pytest.fixture
def issued(app: Flask) -> SignedReport:
    subject_id, _ = a_subject(app)
    return issue(app, report_document(app, subject_id))


def _entries(app: Flask) -> list[QueryLogEntry]:
    with container(app).unit() as db:
        query = select(QueryLogEntry).where(QueryLogEntry.action == ACTION)
        rows = list(db.scalars(query.order_by(QueryLogEntry.seq)))
        db.expunge_all()
        return rows


def _pdf(client: FlaskClient, content: bytes) -> tuple[int, dict[str, object]]:
    answer = client.post(API, data=content, content_type="application/pdf")
    return answer.status_code, answer.get_json()


def test_the_issued_pdf_is_valid_and_nothing_else_is_said(
    app: Flask, client: FlaskClient, issued: SignedReport
) -> None:
    status, body = _pdf(client, issued.content)
    assert status == 200
    assert body == {"valid": True, "issued_at": issued.issued.issued_at.isoformat()}
    (entry,) = _entries(app)
    assert (entry.decision, entry.reason, entry.actor_kind) == ("allowed", "valid", "anonymous")
    assert entry.subject_bidx is None
    assert entry.fields_released in ([], None, "")


def test_a_changed_pdf_is_not_valid(app: Flask, client: FlaskClient, issued: SignedReport) -> None:
    assert _pdf(client, flip_signed_byte(issued.content)) == (
        200,
        {"valid": False, "reason": "altered"},
    )
    assert _pdf(client, with_incremental_update(issued.content)) == (
        200,
        {"valid": False, "reason": "altered"},
    )
    assert _pdf(client, b"%PDF-1.7\nnot really") == (200, {"valid": False, "reason": "not_a_pdf"})
    assert [e.reason for e in _entries(app)] == ["altered", "altered", "not_a_pdf"]


def test_a_signed_pdf_that_was_never_issued_is_not_valid(app: Flask, client: FlaskClient) -> None:
    subject_id, _ = a_subject(app, 91)
    unrecorded = issue(app, report_document(app, subject_id), record=False)
    assert _pdf(client, unrecorded.content) == (
        200,
        {"valid": False, "reason": "unknown_document"},
    )


def test_a_paper_copy_checks_by_reference_and_report_id(
    app: Flask, client: FlaskClient, issued: SignedReport
) -> None:
    report_id = str(issued.issued.report_id)
    typed = issued.reference.lower().replace("-", " ")  # as a person might type it
    answer = client.post(API, json={"reference": typed, "report_id": report_id})
    assert answer.status_code == 200
    assert answer.get_json() == {"valid": True, "issued_at": issued.issued.issued_at.isoformat()}
    for reference, rid in (
        (issued.reference, str(uuid.uuid4())),  # the right reference, another report id
        ("ABCD-EFGH-JKMN-PQRS-TVWX", report_id),  # a well-formed reference never issued
    ):
        answer = client.post(API, json={"reference": reference, "report_id": rid})
        assert answer.get_json() == {"valid": False, "reason": "unknown_reference"}
    entries = _entries(app)
    assert [e.reason for e in entries] == ["valid", "unknown_reference", "unknown_reference"]
    for entry in entries:  # the log keeps neither the reference nor the report id
        assert issued.reference not in repr(vars(entry))
        assert report_id not in repr(vars(entry))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"reference": "too short", "report_id": str(uuid.uuid4())}, None),
        ({"reference": "ABCD-EFGH-JKMN-PQRS-TVWX", "report_id": "not an id"}, None),
        ({"reference": "ABCD-EFGH-JKMN-PQRS-TVWX"}, None),
        (None, "application/pdf"),
    ],
    ids=["bad-reference", "bad-report-id", "missing-field", "empty-pdf"],
)
def test_bad_input_is_a_clear_400_logged_as_denied(
    app: Flask, client: FlaskClient, body: object, content_type: str | None
) -> None:
    if content_type is None:
        answer = client.post(API, json=body)
    else:
        answer = client.post(API, data=b"", content_type=content_type)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"
    (entry,) = _entries(app)
    assert (entry.decision, entry.reason) == ("denied", "bad_request")


def test_a_body_larger_than_any_report_is_refused_unread(app: Flask, client: FlaskClient) -> None:
    answer = client.post(
        API, data=b"%PDF-" + bytes(9 * 1024 * 1024), content_type="application/pdf"
    )
    assert answer.status_code == 413
    (entry,) = _entries(app)
    assert (entry.decision, entry.reason) == ("denied", "body_too_large")


def test_each_address_has_its_verifications_of_the_hour(app: Flask, client: FlaskClient) -> None:
    limit = container(app).policy.report_verifications_per_hour
    body = {"reference": "ABCD-EFGH-JKMN-PQRS-TVWX", "report_id": str(uuid.uuid4())}
    for _ in range(limit):
        assert client.post(API, json=body).status_code == 200
    refused = client.post(API, json=body)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3600"
    assert client.post(API, json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 200
    reasons = [e.reason for e in _entries(app)]
    assert reasons.count("rate_limited") == 1
    assert len(reasons) == limit + 2


def test_when_the_log_cannot_be_written_there_is_no_verdict(
    app: Flask, client: FlaskClient, issued: SignedReport
) -> None:
    refuse_log_entries(app)
    answer = client.post(API, data=issued.content, content_type="application/pdf")
    assert answer.status_code == 503
    assert "valid" not in answer.get_data(as_text=True)


# ------------------------------------------------------------------------------ the page


def test_the_page_answers_valid_for_an_uploaded_pdf(
    app: Flask, client: FlaskClient, issued: SignedReport
) -> None:
    form = client.get("/verify")
    assert form.status_code == 200
    assert "信用报告核验" in form.get_data(as_text=True)
    assert "<script" not in form.get_data(as_text=True)
    answer = client.post(
        "/verify",
        data={"document": (_file(issued.content), "report.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'data-verdict="valid"' in page
    assert "有效" in page
    assert "签发时间" in page
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_page_says_why_a_pdf_or_reference_is_not_valid(
    app: Flask, client: FlaskClient, issued: SignedReport
) -> None:
    answer = client.post(
        "/verify",
        data={"document": (_file(flip_signed_byte(issued.content)), "r.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    page = answer.get_data(as_text=True)
    assert 'data-reason="altered"' in page
    assert "签名后被改动过" in page
    assert "签发时间" not in page
    answer = client.post(
        "/verify",
        data={"reference": "ABCD-EFGH-JKMN-PQRS-TVWX", "report_id": str(uuid.uuid4())},
        content_type="multipart/form-data",
    )
    assert 'data-reason="unknown_reference"' in answer.get_data(as_text=True)
    answer = client.post(
        "/verify",
        data={"reference": issued.reference, "report_id": str(issued.issued.report_id)},
        content_type="multipart/form-data",
    )
    assert 'data-verdict="valid"' in answer.get_data(as_text=True)
    empty = client.post("/verify", data={}, content_type="multipart/form-data")
    assert empty.status_code == 400
    assert re.search(r'id="verify-message"', empty.get_data(as_text=True))
    assert [e.reason for e in _entries(app)] == [
        "altered",
        "unknown_reference",
        "valid",
        "bad_request",
    ]


def _file(content: bytes) -> io.BytesIO:
    return io.BytesIO(content)
