"""Staff and subjects' new pages in real headless Chromium, against gunicorn on a fresh var/:
a compliance officer reviews a list change, a registrar (password + TOTP + card through the
stand-in for nginx) enrols a subject, and a subject reports a lost card.

Staff are made the way an operator makes them: `flask accounts create-staff` (TOTP left
pending) and `flask accounts confirm-totp` with a code; the registrar's card is a SoftHSM2
token keyed by `flask cards issue`.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from hsm.softhsm import init_softhsm_token
from tests.integration.live import BIN, ROOT, LiveServer, fresh_env, run_flask
from tests.integration.test_browser_mtls import CHROMIUM, CHROMIUM_ARGS, StandInNginx
from tests.services.report_helpers import citizen_id

PASSWORD = "violet tram ledger 47"
OWN_PASSWORD = "copper lantern meadow 83"
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass
class Staff:
    username: str
    secret: str
    password: str = PASSWORD  # the operator's, until the first login changes it
    last_code: str = ""

    def code(self) -> str:
        """The next step's code: never the step the confirmation or an earlier login used (a
        used step is refused again, so a second login waits for the next step), and within
        the server's one step of tolerance."""
        code = pyotp.TOTP(self.secret).at(time.time() + 30)
        while code == self.last_code:
            time.sleep(1)
            code = pyotp.TOTP(self.secret).at(time.time() + 30)
        self.last_code = code
        return code


@dataclass
class World:
    env: dict[str, str]
    var_dir: Path
    officer: Staff
    registrar: Staff
    card_certificate: bytes
    subject: tuple[str, str]  # demo username, password


def _staff(env: dict[str, str], password_file: Path, username: str, role: str) -> Staff:
    created = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "accounts", "create-staff",
         "--username", username, "--role", role],
        cwd=ROOT, env={**env, "CREDITGATE_NEW_PASSWORD_FILE": str(password_file)},
        input="\n", capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    uri = re.search(r"otpauth://\S+", created.stdout)
    assert uri is not None, created.stdout
    secret = parse_qs(urlparse(uri.group(0)).query)["secret"][0]
    code = pyotp.TOTP(secret).now()
    confirmed = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "accounts", "confirm-totp", "--username", username],
        cwd=ROOT, env=env, input=f"{code}\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "TOTP confirmed" in confirmed.stdout, confirmed.stdout + confirmed.stderr
    return Staff(username, secret)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    var_dir = tmp_path_factory.mktemp("var")
    env = fresh_env(var_dir)
    for step in (
        ("hsm", "init"),
        ("db", "upgrade"),
        ("demo", "seed", "--subjects", "400", "--seed", "5", "--if-missing"),
        ("cards", "demo", "--count", "1"),
    ):
        run_flask(env, *step, check=True)
    password_file = var_dir / "staff-password"
    password_file.write_text(PASSWORD + "\n")
    officer = _staff(env, password_file, "officer.gao", "compliance")
    registrar = _staff(env, password_file, "registrar.he", "registrar")
    conf = var_dir / "softhsm" / "softhsm2.conf"
    pin_file = var_dir / "card-pin"
    pin_file.write_text("24681357\n")
    init_softhsm_token(conf, "registrar-card", "so-pin-13579", "24681357")
    run_flask(
        {**env, "CREDITGATE_CARD_PIN_FILE": str(pin_file)},
        "cards", "issue", "--account", "registrar.he", "--module", MODULE,
        "--token-label", "registrar-card",
        check=True,
    )  # fmt: skip
    certificate = subprocess.run(
        ["pkcs11-tool", "--module", MODULE, "--token-label", "registrar-card",
         "--read-object", "--type", "cert", "--id", "01"],
        env={**env, "SOFTHSM2_CONF": str(conf)}, capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    lines = (var_dir / "demo-credentials.txt").read_text().splitlines()
    (row,) = [line.split() for line in lines if line.startswith("demo-subject-")]
    return World(env, var_dir, officer, registrar, certificate, (row[0], row[1]))


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[int]:
    live = LiveServer({**world.env, "CREDITGATE_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield live.port
    errors = live.stop()
    assert PASSWORD not in errors
    assert OWN_PASSWORD not in errors
    assert world.subject[1] not in errors


def _browser_page(playwright: object) -> tuple[object, Page]:
    browser = playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    return browser, browser.new_page()


def _staff_login(page: Page, base: str, staff: Staff, landing: str) -> None:
    """Log in; on the first login the password the operator set is changed first (the pages
    allow nothing else), then the sessions page lists this one session."""
    page.goto(f"{base}/login/staff")
    page.fill("#username", staff.username)
    page.fill("#password", staff.password)
    page.fill("#otp", staff.code())
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    if staff.password == PASSWORD:
        page.wait_for_url(f"{base}/account/password")
        expect(page.locator("#password-required")).to_be_visible()
        page.goto(f"{base}{landing}")  # anything else leads back to the form
        page.wait_for_url(f"{base}/account/password")
        page.fill("#current_password", PASSWORD)
        page.fill("#new_password", OWN_PASSWORD)
        page.fill("#new_password_again", OWN_PASSWORD)
        page.click("form.password button[type=submit]")
        page.wait_for_url(re.compile(r".*/account/sessions\?changed=1$"))
        expect(page.locator("#password-changed")).to_be_visible()
        expect(page.locator("tr.session")).to_have_count(1)
        expect(page.locator("tr.session .current")).to_have_count(1)
        staff.password = OWN_PASSWORD
    page.goto(f"{base}{landing}")


def test_an_officer_reviews_list_changes_in_the_browser(
    world: World, server: int, tmp_path: Path
) -> None:
    with StandInNginx(server, world.card_certificate) as nginx, sync_playwright() as playwright:
        nginx.escaped_cert = None  # an officer's browser presents no card
        browser, page = _browser_page(playwright)
        try:
            _staff_login(page, nginx.base, world.officer, "/review/lists")
            page.wait_for_url(f"{nginx.base}/review/lists")
            expect(page.locator("#no-overdue")).to_be_visible()
            page.click("#derive")
            page.wait_for_url(re.compile(r".*/review/lists\?done=derived$"))
            changes = page.locator("article.change")
            count = changes.count()
            assert count > 0, "the demo city has listed debtors or serious penalties"
            first = changes.first
            expect(first.locator(".verdict")).to_contain_text("passed")
            first.locator("input[name=note]").fill("checked")
            first.locator("button[value=approve]").click()
            page.wait_for_url(re.compile(r".*/review/lists\?done=approved$"))
            assert page.locator("article.change").count() == count - 1
            page.click("#to-government-queries")
            page.wait_for_url(f"{nginx.base}/review/government-queries")
            expect(page.locator("#government-none")).to_be_visible()  # none in a fresh city
            page.goto(f"{nginx.base}/review/statistics")
            expect(page.locator("#by-provider")).to_be_visible()
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        finally:
            browser.close()  # type: ignore[attr-defined]
    assert (tmp_path / "review.png").read_bytes().startswith(b"\x89PNG")


def test_a_registrar_with_the_card_enrols_a_subject_in_the_browser(
    world: World, server: int
) -> None:
    with StandInNginx(server, world.card_certificate) as nginx, sync_playwright() as playwright:
        browser, page = _browser_page(playwright)
        try:
            page.goto(f"{nginx.base}/login/staff")
            expect(page.locator("#card-name")).to_have_text("registrar.he")
            _staff_login(page, nginx.base, world.registrar, "/registry")
            page.wait_for_url(f"{nginx.base}/registry")
            page.fill("#id_number", citizen_id(901))
            page.fill("#name", "周八")
            page.fill("#enrol-form #username", "zhou.ba")
            page.fill("#enrol-form #password", "a long enough initial password 7")
            page.click("#enrol-form button[type=submit]")
            expect(page.locator("#registry-outcome")).to_contain_text("Enrolled zhou.ba")
            assert citizen_id(901) not in page.content()
            assert "a long enough initial password 7" not in page.content()
        finally:
            browser.close()  # type: ignore[attr-defined]


def test_a_subject_reports_a_lost_card_in_the_browser(world: World, server: int) -> None:
    username, password = world.subject
    with StandInNginx(server, world.card_certificate) as nginx, sync_playwright() as playwright:
        nginx.escaped_cert = None
        browser, page = _browser_page(playwright)
        try:
            page.goto(f"{nginx.base}/card/lost")
            page.fill("#username", username)
            page.fill("#password", password)
            page.click("form.login button[type=submit]")
            expect(page.locator("#lost-status")).to_contain_text("1 card(s) revoked")
            assert password not in page.content()
        finally:
            browser.close()  # type: ignore[attr-defined]


def test_an_officer_searches_the_log_reads_an_entry_and_checks_disclosures_in_the_browser(
    world: World, server: int
) -> None:
    number = citizen_id(977)
    with StandInNginx(server, world.card_certificate) as nginx, sync_playwright() as playwright:
        nginx.escaped_cert = None  # an officer's browser presents no card
        browser, page = _browser_page(playwright)
        try:
            _staff_login(page, nginx.base, world.officer, "/review/lists")
            page.wait_for_url(f"{nginx.base}/review/lists")
            page.goto(f"{nginx.base}/review/log")
            expect(page.locator("#search-form")).to_be_visible()  # and that search is an entry
            # by keyboard: choose the action, type the subject's number, submit with Enter
            page.select_option("#action", "compliance:log:search")
            page.fill("#subject", number)
            page.press("#subject", "Enter")
            expect(page.locator("#subject-filter")).to_contain_text("blind index")
            assert number not in page.content()
            assert page.locator("#subject").input_value() == ""  # never put back
            page.select_option("#action", "")
            page.click("#search")
            expect(page.locator("#entries")).to_be_visible()  # the officer's own searches
            first = page.locator("#entries tr.entry a").first
            seq = first.inner_text()
            first.click()
            page.wait_for_url(re.compile(rf".*/review/log/{seq}$"))
            expect(page.locator("#decision")).to_contain_text("allowed")
            expect(page.locator("#rules")).to_contain_text("compliance-reviews-log")
            expect(page.locator("#explanation")).to_contain_text("Not a disclosure")
            page.goto(f"{nginx.base}/review/disclosures")
            expect(page.locator("#scanned")).to_be_visible()
            expect(page.locator("#none-unexplained")).to_be_visible()
            page.goto(f"{nginx.base}/review/log?subject={number}")
            expect(page.locator("#search-problem")).to_contain_text("never goes in a link")
            for _ in range(10):  # ten refused searches within the hour: a burst of denials
                page.goto(f"{nginx.base}/review/log?decision=maybe")
            swept = run_flask(world.env, "review", "sweep", check=True)
            assert "new flag(s)" in swept.stdout
            page.goto(f"{nginx.base}/review/log")
            page.click("#to-flags")
            page.wait_for_url(f"{nginx.base}/review/flags")
            # the burst is his own: flagged, with a case for the other officers, neither of
            # which is shown to him (an officer never sees or decides a case about himself)
            expect(page.locator("tr.flag", has_text="denial-burst")).to_have_count(0)
            page.click("#to-cases")
            page.wait_for_url(f"{nginx.base}/review/cases")
            expect(page.locator("tr.case", has_text="denial-burst")).to_have_count(0)
        finally:
            browser.close()  # type: ignore[attr-defined]
