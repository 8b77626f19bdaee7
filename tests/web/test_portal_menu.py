"""The subject's portal menu: every page a subject has is one link away from any other, in
Chinese first and in English on request, and each link leads to its page (not a refusal)."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.clocks import MovableClock
from tests.services.report_helpers import Person, citizen_id, loan
from tests.web.self_helpers import client_for, subject_account

TODAY = date(2026, 11, 21)
SUBJECT = Person(citizen_id(93), "周明远", (loan(date(2020, 3, 1)),))
#: Each menu entry (Chinese, English) and a heading its page shows.
PAGES = {
    "/objections": ("我的异议", "My objections", "Objections to your records"),
    "/statements": ("我的声明", "My statements", "Your statements on your records"),
    "/inbox": ("消息", "Inbox", "Your inbox"),
    "/consents": ("我的授权", "My consents", None),
}


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def _menu(client: FlaskClient, path: str, language: str) -> dict[str, str]:
    """The subject menu's links on the page at `path`: href -> label."""
    page = client.get(path, headers={"Accept": "text/html", "Accept-Language": language})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    nav = re.search(r'<nav aria-label="[^"]+">(.*?)</nav>', html, re.S)
    assert nav is not None, "the subject's menu is missing"
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', nav.group(1))
    return {href: unescape(label).strip() for href, label in links}


def test_the_menu_links_objections_statements_and_inbox_and_each_link_opens(
    app: Flask,
) -> None:
    account, _ = subject_account(app, SUBJECT, today=TODAY)
    client, _ = client_for(app, account)
    chinese = _menu(client, "/consents", "zh-CN")
    for path, (zh, _en, _heading) in PAGES.items():
        assert chinese.get(path) == zh
    for path, (_zh, _en, heading) in PAGES.items():
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200, path
        if heading is not None:
            assert heading in page.get_data(as_text=True)
        assert _menu(client, path, "zh-CN") == chinese  # the same menu on every page


def test_the_menu_switches_to_english(app: Flask) -> None:
    account, _ = subject_account(app, SUBJECT, today=TODAY)
    client, _ = client_for(app, account)
    english = _menu(client, "/inbox", "en-US,en;q=0.9")
    for path, (_zh, en, _heading) in PAGES.items():
        assert english.get(path) == en
