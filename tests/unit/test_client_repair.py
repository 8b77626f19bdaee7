"""The client's credit repair commands against a scripted stand-in of the API: the form they
send (fields and files, with the type each file's name says), what a person reads, and one
clear line for a refusal, naming the day an application becomes possible."""

from __future__ import annotations

from pathlib import Path

from tests.unit.client_standin import CSRF, StandIn, Terminal, standin

__all__ = ["standin"]

RECORD = "0b5e2f4c-8a51-4f0e-9d3e-6d1b2a7c9e77"
APPLICATION = {
    "id": "11111111-2222-4333-8444-555555555555",
    "record_id": RECORD,
    "record_type": "D.penalty_general",
    "title": "Administrative penalty (general)",
    "title_zh": "一般行政处罚",
    "explanation": "罚款已缴清。",
    "filed_on": "2026-12-04",
    "status": "approved",
    "decided_on": "2026-12-05",
    "reason": None,
    "hidden_from": "2026-12-05",
    "evidence": [{"position": 1, "media_type": "application/pdf", "size": 40}],
}
PDF = b"%PDF-1.7\ntrailer <<>>\n%%EOF\n"


def test_repair_apply_sends_the_form_with_the_files(standin: StandIn, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(PDF)
    standin.on("POST", "/api/v1/self/repairs", 201, {"application": APPLICATION})
    terminal = Terminal()
    code = terminal.run(
        "repair", "apply", RECORD, "--explanation", "罚款已缴清。", "--evidence", str(receipt)
    )
    assert code == 0
    sent = standin.last("POST", "/api/v1/self/repairs")
    assert sent.headers["x-csrf-token"] == CSRF
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert RECORD.encode() in sent.body
    assert "罚款已缴清。".encode() in sent.body
    assert b'filename="receipt.pdf"\r\nContent-Type: application/pdf\r\n\r\n' + PDF in sent.body
    assert "not shown from 2026-12-05" in terminal.out.getvalue()


def test_repair_apply_too_early_names_the_day(standin: StandIn, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(PDF)
    refusal = {"error": "too_early", "message": "...", "eligible_from": "2027-01-04"}
    standin.on("POST", "/api/v1/self/repairs", 409, refusal)
    terminal = Terminal()
    code = terminal.run("repair", "apply", RECORD, "--explanation", "x", "--evidence", str(receipt))
    assert code == 1
    assert "2027-01-04" in terminal.err.getvalue()


def test_repair_list_shows_decisions_and_when_records_may_be_repaired(standin: StandIn) -> None:
    record = {
        "id": RECORD,
        "record_type": "D.penalty_serious",
        "title": "Administrative penalty (serious dishonesty)",
        "title_zh": "严重失信行政处罚",
        "occurred_on": "2026-09-01",
        "display_until": "2029-08-31",
        "eligible_from": "2027-03-01",
        "eligible_now": False,
    }
    body = {"applications": [APPLICATION], "records": [record], "as_of": "2026-12-05"}
    standin.on("GET", "/api/v1/self/repairs", 200, body)
    terminal = Terminal()
    assert terminal.run("repair", "list") == 0
    text = terminal.out.getvalue()
    assert "approved 2026-12-05" in text
    assert "may be repaired from 2027-03-01" in text
