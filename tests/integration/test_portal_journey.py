"""A subject's whole journey through the portal in real headless Chromium, behind the stand-in
for nginx that forwards the card certificate (mTLS), against gunicorn on a fresh var/:
log in with card and password, read the own report, switch to English, search the public
lists, order an archive report, have it paid (a signed payment notification, as the payment
provider sends it), download its signed PDF and validate the signature with pyHanko against
the report CA's root, and check it at the public verification page.

Screenshots of each step are kept as test artifacts in the test's pytest tmp directory
(printed at the end; never in the project folder).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from app.services.billing.payments import sign
from policies.policy_data import load_policy
from tests.integration.live import BIN, ROOT, LiveServer, fresh_env, run_flask
from tests.integration.test_browser_mtls import CHROMIUM, CHROMIUM_ARGS, Demo, StandInNginx


@dataclass
class World:
    demo: Demo
    listed_name: str
    listed_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    env = fresh_env(tmp_path_factory.mktemp("var"))
    for step in (
        ("hsm", "init"),
        ("db", "upgrade"),
        ("reports", "certify"),
        ("demo", "seed", "--subjects", "300", "--seed", "5", "--if-missing"),
        ("cards", "demo", "--count", "1"),
    ):
        run_flask(env, *step, check=True)
    found = subprocess.run(
        [sys.executable, "-m", "tests.integration.listed_subject"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr[-2000:]
    name, id_number = found.stdout.split()
    return World(Demo(env), name, id_number)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[LiveServer]:
    live = LiveServer({**world.demo.env, "CREDITGATE_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield live
    errors = live.stop()
    assert world.demo.password not in errors
    assert world.listed_id not in errors


def _pay(world: World, server: LiveServer, order_id: str) -> None:
    """The payment provider's signed notification that the order was paid."""
    key = (world.demo.var_dir / "payment-notify-key").read_text().strip().encode()
    fee = load_policy().fees["archive_report"].amount_fen
    body = json.dumps(
        {"notification_id": "N-journey-1", "order_id": order_id, "amount_fen": fee,
         "payment_ref": "WX-journey-1"}
    ).encode()  # fmt: skip
    stamp = str(int(time.time()))
    sent = urllib.request.Request(  # noqa: S310
        f"{server.base}/api/v1/billing/payment-notifications",
        data=body,
        headers={"Content-Type": "application/json", "X-CG-Timestamp": stamp,
                 "X-CG-Signature": sign(key, stamp, body)},
        method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(sent, timeout=30) as answer:  # noqa: S310
        assert answer.status == 200


def _shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_a_subject_goes_from_login_to_a_validated_signed_pdf(
    world: World, server: LiveServer, tmp_path: Path
) -> None:
    demo, shots = world.demo, tmp_path / "screenshots"
    shots.mkdir()
    with StandInNginx(server.port, demo.certificate) as nginx, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="zh-CN", accept_downloads=True)
            page = context.new_page()
            base = nginx.base

            # Log in with the card (presented through the proxy) and the password.
            page.goto(f"{base}/login/card")
            expect(page.locator("#card-name")).to_have_text(demo.username)
            page.fill("#username", demo.username)
            page.fill("#password", demo.password)
            page.click("form.login button[type=submit]")
            page.wait_for_url(f"{base}/account")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            page.keyboard.press("Tab")  # keyboard users first reach the skip link
            expect(page.locator("a.skip")).to_be_focused()
            _shot(page, shots, "01-account")

            # The own report, in the PBOC order.
            page.click("nav >> text=我的信用报告")
            page.wait_for_url(f"{base}/report")
            page.click("#open-report")
            expect(page.locator("#summary-title")).to_have_text("一、信息概要")
            headings = page.locator("article.report h3").all_inner_texts()
            assert [h.split("、", 1)[1] for h in headings] == [
                "信息概要", "身份信息", "金融信贷信息", "社会公共信息", "特别记录",
                "异议标注", "本人声明", "查询记录",
            ]  # fmt: skip
            assert demo.password not in page.content()
            _shot(page, shots, "02-report-zh")

            # Switch to English: the page and every page after it.
            page.click("#lang-switch")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.locator("h2").first).to_have_text("My credit report")  # GET /report
            page.click("nav >> text=Public lists")
            page.wait_for_url(f"{base}/search")
            expect(page.locator("h2").first).to_have_text("Search the public lists")

            # Search a list by name: masked ID numbers only.
            page.fill("#name", world.listed_name)
            page.click("#search-name button[type=submit]")
            expect(page.locator("#results article.result").first).to_be_visible()
            results = page.locator("#results").inner_text()
            assert world.listed_id not in results
            assert world.listed_id[:6] in results
            _shot(page, shots, "03-search-en")

            # Order an archive report about that ID number.
            page.click("nav >> text=Archive queries and orders")
            page.fill("#id_number", world.listed_id)
            page.click("#order-form button[type=submit]")
            page.wait_for_url(re.compile(r".*/orders/[0-9a-f-]{36}$"))
            order_id = page.locator("#order-id").inner_text()
            expect(page.locator("#order-status [data-status]")).to_have_attribute(
                "data-status", "pending"
            )
            assert world.listed_id not in page.content()
            assert page.locator("#download-archive-pdf").count() == 0
            _shot(page, shots, "04-order-pending")

            # The payment provider says it is paid; the page shows it and offers the report.
            _pay(world, server, order_id)
            page.reload()
            expect(page.locator("#order-status [data-status]")).to_have_attribute(
                "data-status", "paid"
            )
            _shot(page, shots, "05-order-paid")
            with page.expect_download() as downloading:
                page.click("#download-archive-pdf")
            pdf = tmp_path / "archive-report.pdf"
            downloading.value.save_as(pdf)

            # The public verification page says the downloaded file is genuine.
            page.goto(f"{base}/verify")
            page.set_input_files("#document", str(pdf))
            page.click("#verify-file button[type=submit]")
            expect(page.locator("#verify-verdict")).to_have_attribute("data-verdict", "valid")
            _shot(page, shots, "06-verified")

            page.goto(f"{base}/account")
            page.click("form.logout button")
            page.wait_for_url(f"{base}/login/card")
        finally:
            browser.close()

    assert pdf.read_bytes().startswith(b"%PDF-")
    root = tmp_path / "report-ca.pem"
    root.write_text(run_flask(demo.env, "reports", "ca-cert", check=True).stdout)
    validated = subprocess.run(
        [str(BIN / "pyhanko"), "sign", "validate", "--pretty-print", "--trust-replace",
         "--trust", str(root), str(pdf)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "The signature is judged VALID" in validated.stdout
    taken = sorted(path.name for path in shots.glob("*.png"))
    assert len(taken) == 6
    assert all((shots / name).read_bytes().startswith(b"\x89PNG") for name in taken)
    print(f"screenshots: {shots}")
