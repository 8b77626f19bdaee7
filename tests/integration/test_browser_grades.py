"""Grades in real headless Chromium, against gunicorn on a fresh var/: a second registrar grades
the demo city at the console (`flask grades recompute`: they propose every A and E); the
registrar with a card approves the proposals at /registry/grades; the demo subject (password +
card through the stand-in for nginx) follows the menu to their grade and reads every factor
that moved it. Staff are made the way an operator makes them."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.integration.live import run_flask
from tests.integration.test_browser_mtls import StandInNginx
from tests.integration.test_browser_rights import World, _subject_login, server, world
from tests.integration.test_browser_staff import PASSWORD, _browser_page, _staff, _staff_login

__all__ = ["server", "world"]


def test_a_second_registrar_approves_and_the_subject_reads_why(
    world: World, server: int, tmp_path: Path
) -> None:
    password_file = tmp_path / "grader-password"
    password_file.write_text(PASSWORD + "\n")
    _staff(world.env, password_file, "grader.wu", "registrar")
    graded = run_flask(world.env, "grades", "recompute", "--registrar", "grader.wu", check=True)
    assert '"graded": 40' in graded.stdout, graded.stdout
    with sync_playwright() as playwright:
        with StandInNginx(server, world.registrar_card) as nginx:
            browser, page = _browser_page(playwright)
            try:
                _staff_login(page, nginx.base, world.registrar, "/registry")
                page.goto(f"{nginx.base}/registry/grades")
                while page.locator("article.approval form.decide").count():
                    page.locator("article.approval form.decide").first.locator(
                        "button[value=approve]"
                    ).click()
                    page.wait_for_url(re.compile(r".*/registry/grades\?done=approved$"))
                    expect(page.locator("#grade-desk-note")).to_contain_text("Approved")
                expect(page.locator("#no-approvals")).to_be_visible()
            finally:
                browser.close()  # type: ignore[attr-defined]
        with StandInNginx(server, world.subject_card) as nginx:
            browser, page = _browser_page(playwright)
            try:
                _subject_login(page, nginx.base, world)
                page.click('nav a[href="/grade"]')
                page.wait_for_url(f"{nginx.base}/grade")
                expect(page.locator("#grade-counted")).to_be_visible()
                score = int(page.locator("#grade-score").inner_text())
                points = [
                    int(cell.inner_text())
                    for cell in page.locator("#grade-factors tr.factor td:nth-child(2)").all()
                ]
                assert 96 + sum(points) == score  # the explanation adds up to the score
                expect(page.locator("#grade-thresholds")).to_contain_text("A ")
                page.screenshot(path=str(tmp_path / "grade.png"), full_page=True)
            finally:
                browser.close()  # type: ignore[attr-defined]
    assert (tmp_path / "grade.png").read_bytes().startswith(b"\x89PNG")
