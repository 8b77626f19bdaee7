"""The client's `grade` command against a scripted stand-in of the API: the grade and every
factor as a person reads them, `pending`, `--json`, and a refusal as one line."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.client_standin import StandIn, Terminal, standin

__all__ = ["standin"]

GRADE: dict[str, Any] = {
    "status": "counted",
    "grade": "E",
    "title": "Seriously dishonest",
    "title_zh": "严重失信",
    "score": 69,
    "explanation": {
        "base": 96,
        "factors": [
            {
                "factor": "dishonest-debtor",
                "title": "Listed dishonest judgment debtor",
                "title_zh": "失信被执行人",
                "points": -27,
                "records": ["r1"],
            }
        ],
        "held_back": [],
    },
    "counted_at": "2026-12-04T08:00:00+00:00",
    "awaiting_approval": False,
    "grades": [],
    "scorecard_version": "v",
}


def test_grade_prints_the_grade_and_every_factor(standin: StandIn) -> None:
    standin.on("GET", "/api/v1/self/grade", 200, {"grade": GRADE, "as_of": "2026-12-04"})
    terminal = Terminal()
    assert terminal.run("grade") == 0
    text = terminal.out.getvalue()
    assert "Grade E 严重失信 (Seriously dishonest): score 69 / 100" in text
    assert "  96  starting score\n  -27  失信被执行人 (r1)" in text


def test_pending_and_json(standin: StandIn) -> None:
    waiting = {**GRADE, "status": "pending", "grade": None, "score": None, "explanation": None}
    standin.on("GET", "/api/v1/self/grade", 200, {"grade": waiting, "as_of": "2026-12-04"})
    terminal = Terminal()
    assert terminal.run("grade") == 0
    assert "Pending" in terminal.out.getvalue()
    raw = Terminal()
    assert raw.run("grade", "--json") == 0
    assert json.loads(raw.out.getvalue())["grade"]["status"] == "pending"


def test_a_refusal_is_one_line(standin: StandIn) -> None:
    standin.on("GET", "/api/v1/self/grade", 403, {"error": "forbidden", "message": "No."})
    terminal = Terminal()
    assert terminal.run("grade") == 1
    assert terminal.err.getvalue().count("\n") == 1
