"""The client's objection and statement commands against a scripted stand-in of the API: what
they send, what a person reads, `--json`, and one clear line for every refusal; and the
report's marks as a person reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.client_standin import CSRF, StandIn, Terminal, standin
from tests.unit.test_client_queries import REPORT

__all__ = ["standin"]

RECORD = "0b5e2f4c-8a51-4f0e-9d3e-6d1b2a7c9e77"
MARK = {
    "id": "11111111-2222-4333-8444-555555555555",
    "under_objection": True,
    "status": "open",
    "stage": "objection",
    "filed_on": "2026-12-04",
    "due_on": "2026-12-24",
    "overdue": False,
    "outcome": None,
    "resolved_on": None,
    "corrected_record_id": None,
}
OBJECTION = {
    **MARK,
    "record_id": RECORD,
    "record_type": "D.civil_judgment",
    "title": "Civil judgment",
    "title_zh": "民事判决",
    "text": "案件已履行完毕。",
    "reason": None,
}
STATEMENT = {
    "id": "99999999-2222-4333-8444-555555555555",
    "record_id": RECORD,
    "record_type": "D.civil_judgment",
    "title": "Civil judgment",
    "title_zh": "民事判决",
    "text": "已履行。",
    "made_on": "2026-12-04",
    "status": "active",
    "withdrawn_on": None,
}


def test_objection_file_sends_the_record_and_text_and_says_it_is_marked(
    standin: StandIn,
) -> None:
    standin.on("POST", "/api/v1/self/objections", 201, {"objection": OBJECTION})
    terminal = Terminal()
    assert terminal.run("objection", "file", RECORD, "--text", "案件已履行完毕。") == 0
    sent = standin.last("POST", "/api/v1/self/objections")
    assert sent.body == {"record_id": RECORD, "text": "案件已履行完毕。"}
    assert sent.headers["x-csrf-token"] == CSRF
    text = terminal.out.getvalue()
    assert "under objection" in text
    assert "answer due 2026-12-24" in text


def test_objection_text_from_a_file_and_refusals_in_one_line(
    standin: StandIn, tmp_path: Path
) -> None:
    said = tmp_path / "why.txt"
    said.write_text("金额有误。", encoding="utf-8")
    standin.on(
        "POST",
        "/api/v1/self/objections",
        409,
        {"error": "objection_open", "message": "This record is under an open objection."},
    )
    terminal = Terminal()
    assert terminal.run("objection", "file", RECORD, "--text-file", str(said)) == 1
    assert standin.last("POST", "/api/v1/self/objections").body["text"] == "金额有误。"
    assert "under an open objection already" in terminal.err.getvalue()
    assert Terminal().run("objection", "file", "not-an-id", "--text", "x") == 1
    missing = Terminal()
    assert missing.run("objection", "file", RECORD) == 1
    assert "--text" in missing.err.getvalue()


def test_objection_list_shows_outcomes_and_reasons(standin: StandIn) -> None:
    answered = {
        **OBJECTION,
        "under_objection": False,
        "status": "resolved",
        "outcome": "upheld",
        "resolved_on": "2026-12-10",
        "reason": "经核实无误。",
    }
    standin.on("GET", "/api/v1/self/objections", 200, {"objections": [answered], "as_of": "x"})
    terminal = Terminal()
    assert terminal.run("objection", "list") == 0
    text = terminal.out.getvalue()
    assert "answered 2026-12-10: upheld" in text
    assert "reason: 经核实无误。" in text
    raw = Terminal()
    assert raw.run("objection", "list", "--json") == 0
    assert json.loads(raw.out.getvalue())["objections"][0]["outcome"] == "upheld"


def test_statement_add_list_and_withdraw(standin: StandIn) -> None:
    standin.on("POST", "/api/v1/self/statements", 201, {"statement": STATEMENT})
    standin.on("GET", "/api/v1/self/statements", 200, {"statements": [STATEMENT]})
    withdrawn = {**STATEMENT, "status": "withdrawn", "withdrawn_on": "2026-12-05"}
    standin.on(
        "POST", f"/api/v1/self/statements/{STATEMENT['id']}/withdraw", 200, {"statement": withdrawn}
    )
    added = Terminal()
    assert added.run("statement", "add", RECORD, "--text", "已履行。") == 0
    assert standin.last("POST", "/api/v1/self/statements").body == {
        "record_id": RECORD,
        "text": "已履行。",
    }
    listed = Terminal()
    assert listed.run("statement", "list") == 0
    assert "已履行。" in listed.out.getvalue()
    gone = Terminal()
    assert gone.run("statement", "withdraw", str(STATEMENT["id"])) == 0
    assert "withdrawn" in gone.out.getvalue()
    standin.on(
        "POST",
        "/api/v1/self/statements",
        400,
        {"error": "bad_request", "message": "text must be at most 500 characters (it has 501)."},
    )
    over = Terminal()
    assert over.run("statement", "add", RECORD, "--text", "声" * 501) == 1
    assert "at most 500 characters" in over.err.getvalue()


def test_the_report_shows_marks_and_statements(standin: StandIn) -> None:
    report: dict[str, Any] = json.loads(json.dumps(REPORT))
    loan = report["sections"]["financial"][0]
    loan["objection"] = MARK
    loan["statement"] = {"id": STATEMENT["id"], "text": "已履行。", "made_on": "2026-12-04"}
    report["sections"]["objections"] = [{"record_id": "r1", "record_type": "B.loan", **MARK}]
    report["sections"]["statements"] = [
        {"record_id": "r1", "record_type": "B.loan", **loan["statement"]}
    ]
    standin.on("POST", "/api/v1/self/reports", 200, report)
    terminal = Terminal()
    assert terminal.run("report") == 0
    text = terminal.out.getvalue()
    assert "! UNDER OBJECTION since 2026-12-04 (objection), answer due 2026-12-24" in text
    assert "statement: 已履行。" in text
    assert "Objection marks (1)\n  - B.loan r1: UNDER OBJECTION" in text
    assert "Subject statements (1)\n  - B.loan r1: 已履行。" in text


def test_inbox_prints_one_line_per_message(standin: StandIn) -> None:
    message = {
        "kind": "objection_outcome",
        "at": "2026-12-10T08:00:00+00:00",
        "ref": "x",
        "text": "您对“民事判决”记录的异议已答复：维持原记录。 Your objection was answered: upheld.",
    }
    standin.on("GET", "/api/v1/self/inbox", 200, {"messages": [message], "as_of": "2026-12-10"})
    terminal = Terminal()
    assert terminal.run("inbox") == 0
    assert "- 2026-12-10 [objection_outcome] 您对“民事判决”记录的异议" in terminal.out.getvalue()
    standin.on("GET", "/api/v1/self/inbox", 200, {"messages": [], "as_of": "2026-12-10"})
    empty = Terminal()
    assert empty.run("inbox") == 0
    assert "empty" in empty.out.getvalue()
