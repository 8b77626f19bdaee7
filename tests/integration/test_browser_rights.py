"""Objections and statements in real headless Chromium, against gunicorn on a fresh var/: a
demo subject (password + card through the stand-in for nginx) objects to one of their records
and attaches a statement to another, then withdraws it; a registrar (password + TOTP + card)
upholds the objection with a reason and records its reconsideration; the subject sees the
outcome on the objections page and in the inbox. The registrar is made the way an operator
makes one (`flask accounts create-staff`, `flask cards issue`)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from hsm.softhsm import init_softhsm_token
from tests.integration.live import LiveServer, fresh_env, run_flask
from tests.integration.test_browser_mtls import StandInNginx
from tests.integration.test_browser_staff import (
    MODULE,
    PASSWORD,
    Staff,
    _browser_page,
    _staff,
    _staff_login,
)


@dataclass
class World:
    env: dict[str, str]
    registrar: Staff
    registrar_card: bytes
    subject: tuple[str, str]
    subject_card: bytes


def _card_certificate(env: dict[str, str], conf: Path, label: str) -> bytes:
    return subprocess.run(
        ["pkcs11-tool", "--module", MODULE, "--token-label", label,
         "--read-object", "--type", "cert", "--id", "01"],
        env={**env, "SOFTHSM2_CONF": str(conf)}, capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    var_dir = tmp_path_factory.mktemp("var")
    env = fresh_env(var_dir)
    for step in (
        ("hsm", "init"),
        ("db", "upgrade"),
        ("demo", "seed", "--subjects", "40", "--seed", "11", "--if-missing"),
        ("cards", "demo", "--count", "1"),
    ):
        run_flask(env, *step, check=True)
    password_file = var_dir / "staff-password"
    password_file.write_text(PASSWORD + "\n")
    registrar = _staff(env, password_file, "registrar.lu", "registrar")
    conf = var_dir / "softhsm" / "softhsm2.conf"
    pin_file = var_dir / "card-pin"
    pin_file.write_text("24681357\n")
    init_softhsm_token(conf, "registrar-card", "so-pin-13579", "24681357")
    run_flask(
        {**env, "CREDITGATE_CARD_PIN_FILE": str(pin_file)},
        "cards", "issue", "--account", "registrar.lu", "--module", MODULE,
        "--token-label", "registrar-card",
        check=True,
    )  # fmt: skip
    lines = (var_dir / "demo-credentials.txt").read_text().splitlines()
    (row,) = [line.split() for line in lines if line.startswith("demo-subject-")]
    return World(
        env,
        registrar,
        _card_certificate(env, conf, "registrar-card"),
        (row[0], row[1]),
        _card_certificate(env, conf, row[2]),
    )


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[int]:
    live = LiveServer({**world.env, "CREDITGATE_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield live.port
    errors = live.stop()
    assert PASSWORD not in errors
    assert world.subject[1] not in errors
    assert "判决" not in errors


def _subject_login(page: Page, base: str, world: World) -> None:
    username, password = world.subject
    page.goto(f"{base}/login/card")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/account")


def test_a_subject_objects_and_a_registrar_answers_in_the_browser(
    world: World, server: int, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        with StandInNginx(server, world.subject_card) as nginx:
            browser, page = _browser_page(playwright)
            try:
                _subject_login(page, nginx.base, world)
                page.goto(f"{nginx.base}/objections")
                expect(page.locator("#no-objections")).to_be_visible()
                forms = page.locator("article.record form.object")
                assert forms.count() > 0, "the demo subject holds records"
                first = forms.first
                record_id = first.locator("input[name=record_id]").get_attribute("value")
                first.locator("textarea").fill("这笔记录的金额有误。")
                first.locator("button[type=submit]").click()
                page.wait_for_url(re.compile(r".*/objections\?done=filed$"))
                expect(page.locator("#objection-note")).to_contain_text("Filed")
                expect(page.locator("article.objection .status")).to_contain_text("Under objection")
                expect(page.locator(f"#record-{record_id} .status")).to_contain_text(
                    "Under objection"
                )
                page.goto(f"{nginx.base}/statements")
                state = page.locator("article.record form.state").first
                state.locator("textarea").fill("我对此记录有补充说明。")
                state.locator("button[type=submit]").click()
                page.wait_for_url(re.compile(r".*/statements\?done=made$"))
                expect(page.locator("article.statement.active .said")).to_have_text(
                    "我对此记录有补充说明。"
                )
                page.locator("article.statement.active form.withdraw button").click()
                page.wait_for_url(re.compile(r".*/statements\?done=withdrawn$"))
                expect(page.locator("article.statement.withdrawn")).to_have_count(1)
            finally:
                browser.close()  # type: ignore[attr-defined]
        with StandInNginx(server, world.registrar_card) as nginx:
            browser, page = _browser_page(playwright)
            try:
                _staff_login(page, nginx.base, world.registrar, "/registry")
                page.wait_for_url(f"{nginx.base}/registry")
                page.goto(f"{nginx.base}/registry/objections")
                item = page.locator("article.objection").first
                expect(item.locator(".said")).to_contain_text("这笔记录的金额有误。")
                item.locator("select[name=outcome]").select_option("upheld")
                item.locator("textarea[name=reason]").fill("经核实，金额无误。")
                item.locator("form.resolve button").click()
                page.wait_for_url(re.compile(r".*/registry/objections\?done=resolved$"))
                expect(page.locator("#no-open-objections")).to_be_visible()
                upheld = page.locator("article.upheld").first
                upheld.locator("select[name=stage]").select_option("reconsideration")
                upheld.locator("form.escalate button").click()
                page.wait_for_url(re.compile(r".*/registry/objections\?done=escalated$"))
                expect(page.locator("article.objection")).to_have_count(1)
                page.screenshot(path=str(tmp_path / "desk.png"), full_page=True)
            finally:
                browser.close()  # type: ignore[attr-defined]
        with StandInNginx(server, world.subject_card) as nginx:
            browser, page = _browser_page(playwright)
            try:
                _subject_login(page, nginx.base, world)
                page.goto(f"{nginx.base}/objections")
                expect(page.locator("article.objection .status")).to_contain_text("Under objection")
                expect(page.locator("article.objection")).to_contain_text("reconsideration")
                page.goto(f"{nginx.base}/inbox")
                answered = page.locator("li.message.objection_outcome")
                expect(answered).to_have_count(1)
                expect(answered).to_contain_text("upheld")
                assert "这笔记录的金额有误。" not in page.content()  # never what was written
            finally:
                browser.close()  # type: ignore[attr-defined]
    assert (tmp_path / "desk.png").read_bytes().startswith(b"\x89PNG")
