"""The signed PDF shows a record's objection mark and statement with the record, and lists
them in the 异议标注 and 本人声明 sections — never what the subject wrote in the objection."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from app.container import container
from app.services.outcomes import Answered
from app.services.querylog.attempt import Asker, Body
from app.services.rights.objections import OwnObjections
from app.services.rights.statements import OwnStatements
from policies.decision import Caller
from tests.clocks import MovableClock
from tests.pdf.helpers import TODAY, a_subject, issue, pdftotext, report_document


def test_the_pdf_shows_the_objection_mark_and_the_statement(
    app: Flask, clock: MovableClock, tmp_path: Path
) -> None:
    clock.move_to_day(TODAY)
    subject_id, _ = a_subject(app, 78)
    records = [r for r in report_document(app, subject_id)["sections"]["special"]]
    penalty = next(r for r in records if r["type"] == "D.penalty_general")
    debtor = next(r for r in records if r["type"] == "D.dishonest_debtor")
    asker = Asker(
        caller=Caller("subject", frozenset({"password", "card"})),
        actor_ref="test",
        request_id="test-request",
        client_address="127.0.0.1",
        subject_id=subject_id,
    )
    parts = container(app)
    filed = OwnObjections(parts).file(
        asker, Body({"record_id": penalty["id"], "text": "处罚对象并非本人所经营"})
    )
    made = OwnStatements(parts).make(
        asker, Body({"record_id": debtor["id"], "text": "我已与申请人达成和解协议"})
    )
    assert isinstance(filed, Answered)
    assert isinstance(made, Answered)
    signed = issue(app, report_document(app, subject_id))
    squeezed = re.sub(r"\s+", "", pdftotext(signed.content, tmp_path))
    assert "异议中Underobjectionsince2026-11-21" in squeezed
    assert "answerdue2026-12-11" in squeezed
    assert squeezed.count("我已与申请人达成和解协议") == 2  # with the record and in the section
    assert "处罚对象并非本人所经营" not in squeezed
    # the archive report shows the same marks (one assembly for every kind of answer)
    archive = report_document(app, subject_id, "archive")["sections"]["special"]
    shown = {r["type"]: r for r in archive}
    assert shown["D.penalty_general"]["objection"]["under_objection"] is True
    assert shown["D.dishonest_debtor"]["statement"]["text"] == "我已与申请人达成和解协议"
