"""An officer's review case in real headless Chromium, against gunicorn on a fresh var/, with a
second officer for the four-eyes steps.

A cashier calls the log's search page ten times (each refused and logged: a burst of denials);
`flask review sweep` flags it and opens a case. Officer Gao takes the case into review, notes
it, and is refused escalating it alone; officer Lin, in a browser of her own, escalates it and
is refused closing it alone; Gao closes it. Staff are made the way an operator makes them
(`flask accounts create-staff`, `confirm-totp`); each logs in once (a TOTP step is used once).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.live import LiveServer, fresh_env, run_flask
from tests.integration.test_browser_mtls import CHROMIUM, CHROMIUM_ARGS, StandInNginx
from tests.integration.test_browser_staff import PASSWORD, Staff, _staff, _staff_login


@dataclass
class Desk:
    env: dict[str, str]
    gao: Staff
    lin: Staff
    cashier: Staff


def _no_card() -> bytes:
    """A throwaway certificate for the stand-in proxy (officers present no card)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nobody")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    var_dir = tmp_path_factory.mktemp("var")
    env = fresh_env(var_dir)
    run_flask(env, "hsm", "init", check=True)
    run_flask(env, "db", "upgrade", check=True)
    password_file = var_dir / "staff-password"
    password_file.write_text(PASSWORD + "\n")
    return Desk(
        env,
        _staff(env, password_file, "officer.gao", "compliance"),
        _staff(env, password_file, "officer.lin", "compliance"),
        _staff(env, password_file, "cashier.qian", "cashier"),
    )


@pytest.fixture(scope="module")
def server(desk: Desk) -> Iterator[int]:
    live = LiveServer({**desk.env, "CREDITGATE_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield live.port
    errors = live.stop()
    assert PASSWORD not in errors


def _page(browser: Browser) -> Page:
    return browser.new_context().new_page()  # a browser of its own: its own cookies


def _step(page: Page, step: str, note: str = "", outcome: str = "") -> None:
    page.select_option("#step", step)
    page.fill("#note", note)
    if outcome:
        page.select_option("#outcome", outcome)
    page.click("#submit-step")
    page.wait_for_load_state()


def test_two_officers_take_a_case_from_flag_to_closed_in_the_browser(
    desk: Desk, server: int, tmp_path: Path
) -> None:
    with StandInNginx(server, _no_card()) as nginx, sync_playwright() as playwright:
        nginx.escaped_cert = None
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            cashier = _page(browser)
            _staff_login(cashier, nginx.base, desk.cashier, "/account/sessions")
            for _ in range(10):  # a cashier probing the officers' console: each refused, logged
                answer = cashier.goto(f"{nginx.base}/review/log")
                assert answer is not None
                assert answer.status == 403
            swept = run_flask(desk.env, "review", "sweep", check=True)
            assert "1 new flag(s)" in swept.stdout, swept.stdout

            gao = _page(browser)
            _staff_login(gao, nginx.base, desk.gao, "/review/cases")
            gao.wait_for_url(f"{nginx.base}/review/cases")
            expect(gao.locator("#cases tr.case")).to_have_count(1)
            expect(gao.locator("#cases tr.case .state")).to_have_text("open")
            gao.click("#cases tr.case a")
            gao.wait_for_url(re.compile(r".*/review/cases/[0-9a-f-]{36}$"))
            case_url = gao.url
            expect(gao.locator("#case-actor-name")).to_have_text("cashier.qian")
            _step(gao, "take")
            expect(gao.locator("#case-state")).to_have_text("in_review")
            expect(gao.locator("#case-reviewer")).to_have_text("officer.gao")
            _step(gao, "note", "ten refused searches of the log within minutes")
            expect(gao.locator("#case-events")).to_contain_text("ten refused searches")
            _step(gao, "escalate", "looks like probing")  # alone: refused, nothing changed
            expect(gao.locator("#step-refused")).to_contain_text("four_eyes_escalation")
            expect(gao.locator("#step-refused")).to_contain_text("second officer")
            expect(gao.locator("#case-state")).to_have_text("in_review")

            lin = _page(browser)
            _staff_login(lin, nginx.base, desk.lin, "/review/cases")
            lin.goto(case_url)
            _step(lin, "escalate", "agreed: a cashier has no business in the log")
            expect(lin.locator("#case-state")).to_have_text("escalated")
            expect(lin.locator("#case-escalated-by")).to_contain_text("officer.lin")
            _step(lin, "close", "done", "no_action")  # who escalated cannot close alone
            expect(lin.locator("#step-refused")).to_contain_text("four_eyes_closing")
            expect(lin.locator("#case-state")).to_have_text("escalated")

            gao.goto(case_url)
            _step(gao, "close", "cashier reminded of the rules", "no_action")
            expect(gao.locator("#case-state")).to_have_text("closed")
            expect(gao.locator("#case-decided-by")).to_contain_text("officer.gao")
            expect(gao.locator("#case-outcome")).to_contain_text("No action")

            # the other officer sees every step in the log, refusals included
            lin.goto(f"{nginx.base}/review/log?action=compliance:case:decide")
            expect(lin.locator("#entries")).to_contain_text("four_eyes_escalation")
            expect(lin.locator("#entries")).to_contain_text("case_closed_no_action")
            gao.screenshot(path=str(tmp_path / "case.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "case.png").read_bytes().startswith(b"\x89PNG")
