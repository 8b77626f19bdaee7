"""The client's `card report-lost` and `notices` commands against the scripted stand-in."""

from __future__ import annotations

from tests.unit.client_standin import StandIn, Terminal, standin

__all__ = ["standin"]

NOTICE = {
    "record_type": "D.civil_judgment",
    "title": "Civil litigation judgment",
    "title_zh": "民事诉讼判决",
    "provider": "重庆市渝中区人民法院",
    "notified_on": "2026-06-10",
    "channel": "registered_mail",
    "received_on": "2026-12-04",
    "record": "shown",
}


def test_notices_lists_what_each_provider_says_it_told_the_subject(standin: StandIn) -> None:
    standin.on("GET", "/api/v1/self/notices", 200, {"notices": [NOTICE]})
    terminal = Terminal()
    assert terminal.run("notices") == 0
    text = terminal.out.getvalue()
    assert "2026-06-10  by registered_mail  民事诉讼判决 · Civil litigation judgment" in text
    assert "from 重庆市渝中区人民法院  (received 2026-12-04; shown)" in text


def test_no_notice_on_file_says_so(standin: StandIn) -> None:
    standin.on("GET", "/api/v1/self/notices", 200, {"notices": []})
    terminal = Terminal()
    assert terminal.run("notices") == 0
    assert "No notice" in terminal.out.getvalue()


def test_report_lost_asks_the_password_hidden_and_never_prints_it(standin: StandIn) -> None:
    terminal = Terminal("my secret password 9")
    code = terminal.run("card", "report-lost", "--url", standin.url, "--username", "zhang.wei")
    assert code == 1  # the stand-in refuses: one line, no password
    assert terminal.prompts == ["Password for zhang.wei: "]
    sent = standin.last("POST", "/api/v1/self/cards/report-lost")
    assert sent.body == {"username": "zhang.wei", "password": "my secret password 9"}
    assert "cookie" not in sent.headers  # no session: the card is what is missing
    printed = terminal.out.getvalue() + terminal.err.getvalue()
    assert "my secret password 9" not in printed
    assert printed.strip() == "Login failed."
