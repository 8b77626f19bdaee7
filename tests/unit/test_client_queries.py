"""The client's query commands against a scripted stand-in of the API: what they send, what a
person reads (sections, titles, masked values as released), `--json`, `--out`, the 402 path
(order id, fee, how to pay, exit 2) and one clear line for every refusal. No command ever
prints the session cookie or the CSRF token (checked by `Terminal.run` on every call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.client import store
from tests.unit.client_standin import CSRF, StandIn, Terminal, standin

__all__ = ["standin"]

ORDER = "5f0c8f9e-3b1a-4c5d-9e2f-7a6b5c4d3e21"
REPORT: dict[str, Any] = {
    "report": {
        "id": "c3d1e2f4-0000-4000-8000-000000000001",
        "kind": "self",
        "generated_at": "2026-11-21T08:00:00+00:00",
        "as_of": "2026-11-21",
        "catalog_version": "ab" * 32,
        "policy_version": "cd" * 32,
        "purpose": None,
        "fee_fen": 0,
    },
    "subject": {"id_number": "110101199003074578", "name": "陈静"},
    "sections": {
        "identity": [],
        "financial": [
            {
                "id": "r1",
                "type": "B.loan",
                "title": "Loan",
                "title_zh": "贷款",
                "occurred_on": "2020-02-02",
                "ended_on": None,
                "display_until": None,
                "fields": {"lender": "Bank of Chongqing", "account_no": "622202******1234"},
                "masked": {"account_no": "first6_last4"},
            }
        ],
        "social": [],
        "special": [],
        "objections": [],
        "statements": [],
        "query_records": [
            {
                "at": "2026-11-01T09:00:00+00:00",
                "requester": "Bank of Chongqing",
                "action": "institution:report:query",
                "purpose": "loan_approval",
            }
        ],
    },
}
PAYMENT = {
    "error": "payment_required",
    "message": "This report needs a paid order.",
    "order_id": ORDER,
}
PENDING = {
    "id": ORDER,
    "kind": "self_report",
    "status": "pending",
    "fee_fen": 1000,
    "created_at": "2026-11-21T08:00:00+00:00",
    "paid_at": None,
    "paid_via": None,
    "available_until": None,
    "redeemed_at": None,
    "refunded_at": None,
}


def test_report_prints_sections_titles_and_masked_values_as_released(standin: StandIn) -> None:
    standin.on("POST", "/api/v1/self/reports", 200, REPORT)
    terminal = Terminal()
    assert terminal.run("report") == 0
    sent = standin.last("POST", "/api/v1/self/reports")
    assert sent.body == {}
    assert sent.headers["x-csrf-token"] == CSRF
    text = terminal.out.getvalue()
    assert "Credit report c3d1e2f4-0000-4000-8000-000000000001 (self)" in text
    assert "Financial transactions (1)" in text
    assert "- Loan (贷款)  [2020-02-02]" in text
    assert "account_no: 622202******1234  (masked: first6_last4)" in text
    assert "Query records (1)" in text
    assert "Bank of Chongqing  institution:report:query  purpose loan_approval" in text
    assert "Special records (0)\n  (none)" in text
    assert terminal.err.getvalue() == ""


def test_report_json_is_the_service_answer_unchanged(standin: StandIn) -> None:
    standin.on("POST", "/api/v1/self/reports", 200, REPORT)
    terminal = Terminal()
    assert terminal.run("report", "--json") == 0
    assert json.loads(terminal.out.getvalue()) == REPORT


def test_report_out_writes_a_private_file_and_never_overwrites(
    standin: StandIn, tmp_path: Path
) -> None:
    standin.on("POST", "/api/v1/self/reports", 200, REPORT)
    target = tmp_path / "report.json"
    terminal = Terminal()
    assert terminal.run("report", "--out", str(target)) == 0
    assert json.loads(target.read_text()) == REPORT
    assert target.stat().st_mode & 0o777 == 0o600
    assert terminal.out.getvalue() == f"Report {REPORT['report']['id']} written to {target}.\n"
    again = Terminal()
    assert again.run("report", "--out", str(target)) == 1
    assert again.err.getvalue() == f"{target} exists already; name a new file.\n"


def test_a_third_report_names_the_order_the_fee_and_how_to_pay_and_exits_2(
    standin: StandIn,
) -> None:
    standin.on("POST", "/api/v1/self/reports", 402, PAYMENT)
    standin.on("GET", f"/api/v1/self/orders/{ORDER}", 200, {"order": PENDING})
    terminal = Terminal()
    assert terminal.run("report") == 2
    assert terminal.out.getvalue() == ""
    said = terminal.err.getvalue()
    assert f"Payment required: order {ORDER}, fee 10.00 yuan." in said
    assert "cashier" in said
    assert "payment provider" in said
    assert f"python -m app.client report --order {ORDER}" in said


def test_a_paid_order_is_redeemed_by_naming_it(standin: StandIn) -> None:
    standin.on("POST", "/api/v1/self/reports", 200, REPORT)
    assert Terminal().run("report", "--order", ORDER) == 0
    assert standin.last("POST", "/api/v1/self/reports").body == {"order_id": ORDER}
    standin.on("POST", "/api/v1/self/reports", 404, {"error": "not_found", "message": "x"})
    terminal = Terminal()
    assert terminal.run("report", "--order", ORDER) == 1
    assert terminal.err.getvalue() == "No paid, unused report order of yours has that id.\n"
    bad = Terminal()
    assert bad.run("report", "--order", "not-an-id") == 1
    assert bad.err.getvalue() == "That is not an order id.\n"


def test_query_records_list_who_looked(standin: StandIn) -> None:
    records = {"query_records": REPORT["sections"]["query_records"]}
    standin.on("GET", "/api/v1/self/query-records?limit=500", 200, records)
    terminal = Terminal()
    assert terminal.run("query-records") == 0
    assert terminal.out.getvalue() == (
        "Who looked at your report (newest first):\n"
        "  2026-11-01T09:00:00+00:00  Bank of Chongqing  institution:report:query"
        "  purpose loan_approval\n"
    )
    standin.on("GET", "/api/v1/self/query-records?limit=500", 200, {"query_records": []})
    empty = Terminal()
    assert empty.run("query-records") == 0
    assert empty.out.getvalue() == "Nobody has looked at your report in the last 2 years.\n"


def test_search_sends_one_term_and_shows_masked_results(standin: StandIn) -> None:
    listed = {
        "as_of": "2026-11-21",
        "results": [
            {
                "subject": {"id_number": "110101********4578", "name": "陈静"},
                "records": [
                    {
                        "id": "p1",
                        "type": "D.penalty",
                        "title": "Administrative penalty",
                        "title_zh": "行政处罚",
                        "occurred_on": "2026-03-01",
                        "ended_on": None,
                        "display_until": "2027-03-01",
                        "fields": {"authority": "Tax bureau"},
                        "masked": {},
                    }
                ],
            }
        ],
    }
    standin.on("POST", "/api/v1/public/lists/search", 200, listed)
    terminal = Terminal()
    assert terminal.run("search", "--name", "陈静") == 0
    assert standin.last("POST", "/api/v1/public/lists/search").body == {"name": "陈静"}
    text = terminal.out.getvalue()
    assert "1 listed subject(s) (as of 2026-11-21):" in text
    assert "陈静  ID 110101********4578" in text
    assert "- Administrative penalty (行政处罚)  [2026-03-01]" in text
    assert "shown until 2027-03-01" in text
    assert Terminal().run("search", "--id-number", "110101199003074578") == 0
    sent = standin.last("POST", "/api/v1/public/lists/search").body
    assert sent == {"id_number": "110101199003074578"}
    with pytest.raises(SystemExit):
        Terminal().run("search", "--name", "a", "--id-number", "b")


def test_search_over_the_daily_limit_and_a_bad_id_are_one_clear_line(standin: StandIn) -> None:
    standin.on(
        "POST",
        "/api/v1/public/lists/search",
        429,
        {"error": "daily_limit_reached", "message": "The daily limit is reached."},
    )
    terminal = Terminal()
    assert terminal.run("search", "--name", "陈静") == 1
    assert terminal.err.getvalue() == (
        "Refused (daily_limit_reached): You have used today's public-list searches; "
        "try again tomorrow.\n"
    )
    standin.on(
        "POST",
        "/api/v1/public/lists/search",
        400,
        {"error": "bad_request", "message": "id_number fails its check character."},
    )
    bad = Terminal()
    assert bad.run("search", "--id-number", "110101199003074579") == 1
    assert bad.err.getvalue() == ("Refused (bad_request): id_number fails its check character.\n")


def test_archive_order_orders_and_report(standin: StandIn, tmp_path: Path) -> None:
    archive_order = {**PENDING, "kind": "archive_report", "fee_fen": 2000}
    standin.on("POST", "/api/v1/archive/orders", 201, {"order": archive_order})
    placed = Terminal()
    assert placed.run("archive", "order", "--id-number", "110101199003074578") == 0
    assert standin.last("POST", "/api/v1/archive/orders").body == {
        "id_number": "110101199003074578"
    }
    text = placed.out.getvalue()
    assert f"Archive order {ORDER}: pending." in text
    assert "fee 20.00 yuan" in text
    assert f"python -m app.client archive report {ORDER}" in text

    standin.on("GET", "/api/v1/self/orders", 200, {"orders": [archive_order]})
    listed = Terminal()
    assert listed.run("archive", "orders") == 0
    assert listed.out.getvalue().startswith(f"{ORDER}  archive_report  pending  20.00 yuan")

    path = f"/api/v1/archive/orders/{ORDER}/report"
    standin.on("GET", path, 402, PAYMENT)
    standin.on("GET", f"/api/v1/self/orders/{ORDER}", 200, {"order": archive_order})
    unpaid = Terminal()
    assert unpaid.run("archive", "report", ORDER) == 2
    assert f"order {ORDER}, fee 20.00 yuan" in unpaid.err.getvalue()

    standin.on(
        "GET", path, 410, {"error": "gone", "message": "This report is no longer available."}
    )
    gone = Terminal()
    assert gone.run("archive", "report", ORDER) == 1
    assert gone.err.getvalue() == "Refused (gone): This report is no longer available.\n"

    standin.on("GET", path, 404, {"error": "not_found", "message": "Not found."})
    other = Terminal()
    assert other.run("archive", "report", ORDER) == 1
    assert other.err.getvalue() == "You have no archive order with that id.\n"

    standin.on("GET", path, 200, {**REPORT, "report": {**REPORT["report"], "kind": "archive"}})
    out = tmp_path / "archive.json"
    fetched = Terminal()
    assert fetched.run("archive", "report", ORDER, "--out", str(out)) == 0
    assert json.loads(out.read_text())["report"]["kind"] == "archive"


def test_refusals_weak_login_outage_and_an_ended_session(standin: StandIn) -> None:
    standin.on(
        "GET",
        "/api/v1/self/query-records?limit=500",
        403,
        {"error": "step_up_required", "message": "Log in with your smart card first."},
    )
    weak = Terminal()
    assert weak.run("query-records") == 1
    assert weak.err.getvalue().startswith("Refused (step_up_required): Log in with your smart")
    assert "python -m app.client login --help" in weak.err.getvalue()

    standin.on(
        "GET",
        "/api/v1/self/query-records?limit=500",
        503,
        {"error": "service_unavailable", "message": "Try later."},
    )
    down = Terminal()
    assert down.run("query-records") == 1
    assert down.err.getvalue() == (
        "The service is unavailable right now; nothing was released. Try again later.\n"
    )

    standin.on(
        "GET",
        "/api/v1/self/query-records?limit=500",
        401,
        {"error": "unauthenticated", "message": "Log in first."},
    )
    ended = Terminal()
    assert ended.run("query-records") == 1
    assert ended.err.getvalue() == "Your session has ended. Log in again.\n"
    assert store.load() is None
    after = Terminal()
    assert after.run("report") == 1
    assert after.err.getvalue().startswith("Not logged in.")


def test_query_records_follow_every_page(standin: StandIn) -> None:
    first = {"at": "2026-11-02T09:00:00+00:00", "requester": "you", "action": "self:report:read",
             "purpose": None}  # fmt: skip
    second = {**first, "at": "2026-10-01T09:00:00+00:00", "requester": "individual"}
    base = "/api/v1/self/query-records?limit=500"
    standin.on("GET", base, 200, {"query_records": [first], "next_cursor": "41"})
    standin.on("GET", f"{base}&cursor=41", 200, {"query_records": [second], "next_cursor": None})
    terminal = Terminal()
    assert terminal.run("query-records", "--json") == 0
    assert json.loads(terminal.out.getvalue()) == {"query_records": [first, second]}


PDF_BYTES = b"%PDF-1.3\n% a signed report stands in here\n%%EOF\n"


def test_report_pdf_asks_for_the_pdf_and_writes_a_new_private_file(
    standin: StandIn, tmp_path: Path
) -> None:
    standin.on("POST", "/api/v1/self/reports?format=pdf", 200, PDF_BYTES)
    target = tmp_path / "report.pdf"
    terminal = Terminal()
    assert terminal.run("report", "--pdf", str(target)) == 0
    sent = standin.last("POST", "/api/v1/self/reports?format=pdf")
    assert sent.headers["accept"] == "application/pdf"
    assert sent.body == {}
    assert target.read_bytes() == PDF_BYTES
    assert target.stat().st_mode & 0o777 == 0o600
    assert f"Signed report written to {target}" in terminal.out.getvalue()
    assert "/verify" in terminal.out.getvalue()
    again = Terminal()
    assert again.run("report", "--pdf", str(target)) == 1
    assert again.err.getvalue() == f"{target} exists already; name a new file.\n"
    # an existing file is refused before the service is asked: no report is used up for it
    assert len([s for s in standin.seen if s.path.startswith("/api/v1/self/reports")]) == 1


def test_report_pdf_with_a_paid_order_and_the_402_path(standin: StandIn, tmp_path: Path) -> None:
    standin.on("POST", "/api/v1/self/reports?format=pdf", 402, PAYMENT)
    standin.on("GET", f"/api/v1/self/orders/{ORDER}", 200, {"order": PENDING})
    unpaid = Terminal()
    assert unpaid.run("report", "--pdf", str(tmp_path / "a.pdf")) == 2
    assert f"python -m app.client report --order {ORDER}" in unpaid.err.getvalue()
    assert not (tmp_path / "a.pdf").exists()
    standin.on("POST", "/api/v1/self/reports?format=pdf", 200, PDF_BYTES)
    assert Terminal().run("report", "--order", ORDER, "--pdf", str(tmp_path / "b.pdf")) == 0
    assert standin.last("POST", "/api/v1/self/reports?format=pdf").body == {"order_id": ORDER}


def test_a_pdf_answer_that_is_not_a_pdf_is_refused(standin: StandIn, tmp_path: Path) -> None:
    standin.on("POST", "/api/v1/self/reports?format=pdf", 200, REPORT)  # JSON, not a PDF
    terminal = Terminal()
    assert terminal.run("report", "--pdf", str(tmp_path / "r.pdf")) == 1
    assert terminal.err.getvalue() == "The service did not answer with a PDF.\n"
    assert not (tmp_path / "r.pdf").exists()


def test_archive_report_pdf(standin: StandIn, tmp_path: Path) -> None:
    standin.on("GET", f"/api/v1/archive/orders/{ORDER}/report?format=pdf", 200, PDF_BYTES)
    target = tmp_path / "archive.pdf"
    assert Terminal().run("archive", "report", ORDER, "--pdf", str(target)) == 0
    assert target.read_bytes() == PDF_BYTES
    seen = standin.last("GET", f"/api/v1/archive/orders/{ORDER}/report?format=pdf")
    assert seen.headers["accept"] == "application/pdf"


def test_pdf_json_and_out_exclude_one_another(standin: StandIn, tmp_path: Path) -> None:
    terminal = Terminal()
    with pytest.raises(SystemExit):
        terminal.run("report", "--pdf", str(tmp_path / "x.pdf"), "--json")
