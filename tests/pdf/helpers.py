"""Signed PDF reports for the tests: a subject with records of every section, its self and
archive report documents (assembled by the real ReportService on sealed records), and PDFs
made and recorded as the service does."""

from __future__ import annotations

import io
import subprocess
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pypdf import PdfReader
from sqlalchemy import select

from app.container import container
from app.models import Subject
from app.services.querylog.records import QueryRecord
from app.services.reports.assembly import ReportService
from app.services.reports.pdf import PdfReports, SignedReport
from app.services.reports.pdf.certificates import SigningChain, certify
from tests.services.report_helpers import (
    Person,
    allow,
    citizen_id,
    dishonest,
    ingest,
    loan,
    overdue,
    penalty,
)

TODAY = date(2026, 11, 21)
NAME = "王建国"
VERIFY_URL = "https://credit.example.cn/verify"
SECTION_HEADINGS = (
    "信息概要",
    "身份信息",
    "金融信贷信息",
    "社会公共信息",
    "特别记录",
    "异议标注",
    "本人声明",
    "查询记录",
)
QUERY_RECORDS = tuple(
    QueryRecord(
        at=f"2026-11-{day:02d}T02:00:00+00:00",
        requester=("you", "individual", "重庆农村商业银行")[day % 3],
        action=("self:report:read", "public:list:search", "institution:report:query")[day % 3],
        purpose="loan_approval" if day % 3 == 2 else None,
    )
    for day in range(1, 21)
)


def a_subject(app: Flask, sequence: int = 77) -> tuple[uuid.UUID, str]:
    person = Person(
        citizen_id(sequence),
        NAME,
        (
            loan(date(2019, 1, 1)),
            overdue(date(2023, 3, 1), date(2023, 6, 1)),
            penalty(date(2026, 5, 1), serious=False),
            dishonest(date(2025, 1, 10), None),
        ),
    )
    subject_id = ingest(app, [person], today=TODAY)[person.id_number]
    number = person.id_number
    LABELS[subject_id] = f"{number[:6]}********{number[-4:]}"
    return subject_id, number


def report_document(app: Flask, subject_id: uuid.UUID, kind: str = "self") -> dict[str, Any]:
    """The self report (with query records) or the archive report (the subject named only as
    the buyer did: the masked ID number) of `subject_id`, as the use cases assemble them."""
    parts = container(app)
    service = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
    with container(app).unit() as db:
        subject = db.scalars(select(Subject).where(Subject.id == subject_id)).one()
        if kind == "self":
            return service.assemble(
                db,
                subject=subject,
                decision=allow(parts.catalog),
                kind="self",
                on=TODAY,
                query_records=QUERY_RECORDS,
            )
        decision = allow(
            parts.catalog,
            tier="archive",
            subject_masks={"name": "redact", "id_number": "first6_last4"},
        )
        number = archive_label(app, subject_id)
        opened = service.open(
            db.connection(),
            subject=subject,
            decision=decision,
            on=TODAY,
            named_as={"id_number": number},
        )
        shaped = service.shape(opened, decision=decision)
        return service.document(shaped, decision=decision, kind="archive", on=TODAY, fee_fen=2000)


def archive_label(app: Flask, subject_id: uuid.UUID) -> str:
    """How an archive buyer names the subject: the ID number's first 6 and last 4."""
    return LABELS[subject_id]


LABELS: dict[uuid.UUID, str] = {}


def chain_for(app: Flask) -> SigningChain:
    parts = container(app)
    with parts.unit() as db:
        return certify(db.connection(), parts.key_provider, now=parts.clock.now()).chain


def pdf_reports(app: Flask) -> PdfReports:
    parts = container(app)
    purposes = {code: p.title_zh for code, p in parts.policy.purposes.items()}
    return PdfReports(parts.key_provider, parts.catalog, purposes=purposes, verify_url=VERIFY_URL)


def issue(
    app: Flask,
    document: dict[str, Any],
    *,
    record: bool = True,
    reports: PdfReports | None = None,
) -> SignedReport:
    """A signed PDF of `document`, recorded as issued (unless `record` is False)."""
    parts = container(app)
    maker = reports if reports is not None else pdf_reports(app)
    signed = maker.make(document, chain=chain_for(app), issued_at=parts.clock.now())
    if record:
        with parts.unit() as db:
            PdfReports.record(db.connection(), signed)
    return signed


def page_texts(pdf: bytes) -> list[str]:
    """The text layer of every page, as pypdf extracts it."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    """The text layer as poppler's pdftotext extracts it."""
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8")


def flip_signed_byte(pdf: bytes) -> bytes:
    """`pdf` with one byte of its (compressed) first page content changed: inside the signed
    byte range, so the file still parses but its digest no longer matches."""
    at = pdf.index(b"stream\n", pdf.index(b"/FlateDecode")) + len(b"stream\n") + 20
    changed = bytearray(pdf)
    changed[at] ^= 0x01
    return bytes(changed)


def with_incremental_update(pdf: bytes) -> bytes:
    """`pdf` with a well-formed incremental update appended after its signature (what a PDF
    editor does when it saves a change): the signed bytes are untouched."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.root[pdf_name("/PageMode")] = pdf_name("/UseOutlines")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
