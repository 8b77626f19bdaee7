"""Helpers for the credit repair tests: evidence files of each kind, an application sent as
a multipart form, and the query-log entries of an action."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.container import container
from app.models import QueryLogEntry, RepairApplication, RepairEvidence
from tests.web.rights_helpers import Holder

REPAIRS = "/api/v1/self/repairs"
DESK = "/api/v1/registry/repairs"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
EXPLANATION = "罚款已于 2026 年 10 月缴清，无照经营已办理营业执照。"


def apply(
    holder: Holder,
    record_id: str,
    files: list[tuple[bytes, str, str]] | None = None,
    explanation: str = EXPLANATION,
) -> Any:
    """POST the application as a browser or a client would: a multipart form."""
    sent = files if files is not None else [(PDF, "receipt.pdf", "application/pdf")]
    boundary, body = multipart(record_id, explanation, sent)
    return holder.client.post(
        REPAIRS,
        data=body,
        headers=holder.headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def multipart(
    record_id: str, explanation: str, files: list[tuple[bytes, str, str]]
) -> tuple[str, bytes]:
    """The form encoded in memory (the test client would spool a large one to a temporary
    file it never closes)."""
    values = MultiDict([("record_id", record_id), ("explanation", explanation)])
    for content, name, media in files:
        values.add("evidence", FileStorage(io.BytesIO(content), name, content_type=media))
    return encode_multipart(values)


def stored(app: Flask) -> tuple[int, int]:
    """(applications, evidence files) in the database."""
    with container(app).sessions() as db:
        applications = db.scalar(select(func.count()).select_from(RepairApplication)) or 0
        files = db.scalar(select(func.count()).select_from(RepairEvidence)) or 0
    return applications, files


def reasons(app: Flask, action: str) -> list[tuple[str, str]]:
    """(decision, reason) of each query-log entry of `action`, oldest first."""
    with container(app).sessions() as db:
        rows = db.execute(
            select(QueryLogEntry.decision, QueryLogEntry.reason)
            .where(QueryLogEntry.action == action)
            .order_by(QueryLogEntry.seq)
        ).all()
    return [(decision, reason) for decision, reason in rows]
