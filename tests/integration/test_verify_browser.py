"""The public verification page in real headless Chromium against gunicorn on a fresh var/
directory: upload an issued PDF (valid), a tampered copy (not valid, and why), and type a
paper copy's reference and report id."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.integration.live import ROOT, LiveServer, fresh_env, run_flask
from tests.integration.test_browser_mtls import CHROMIUM, CHROMIUM_ARGS
from tests.pdf.helpers import flip_signed_byte


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A live service with one issued PDF: (base URL, the PDF's path)."""
    var = tmp_path_factory.mktemp("var")
    env = {**fresh_env(var), "CREDITGATE_PUBLIC_URL": "https://credit.example.cn"}
    for step in (
        ("hsm", "init"),
        ("db", "upgrade"),
        ("reports", "certify"),
        ("demo", "seed", "--subjects", "1", "--seed", "5", "--if-missing"),
    ):
        run_flask(env, *step, check=True)
    pdf = var / "issued.pdf"
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.issue_report_pdf", str(pdf)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    live = LiveServer(env)
    yield live.base, pdf
    live.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _upload(page: Page, base: str, pdf: Path) -> None:
    page.goto(f"{base}/verify")
    page.set_input_files("#document", str(pdf))
    page.click("#verify-file button[type=submit]")
    page.wait_for_url(f"{base}/verify")


def test_an_uploaded_report_is_valid_and_a_tampered_one_is_not(
    service: tuple[str, Path], page: Page, tmp_path: Path
) -> None:
    base, pdf = service
    _upload(page, base, pdf)
    expect(page.locator("#verify-verdict")).to_have_attribute("data-verdict", "valid")
    expect(page.locator("#verify-verdict")).to_contain_text("有效")
    expect(page.locator("#verify-issued-at")).to_contain_text("北京时间")
    page.screenshot(path=str(tmp_path / "verify-valid.png"), full_page=True)

    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(flip_signed_byte(pdf.read_bytes()))
    _upload(page, base, tampered)
    expect(page.locator("#verify-verdict")).to_have_attribute("data-reason", "altered")
    expect(page.locator("#verify-reason")).to_contain_text("签名后被改动过")
    assert page.locator("#verify-issued-at").count() == 0
    page.screenshot(path=str(tmp_path / "verify-altered.png"), full_page=True)
    assert (tmp_path / "verify-valid.png").read_bytes().startswith(b"\x89PNG")


def test_the_pdf_names_the_services_verification_page(service: tuple[str, Path]) -> None:
    _, pdf = service
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    assert "https://credit.example.cn/verify" in text


def test_a_paper_copy_is_checked_by_its_reference(
    service: tuple[str, Path], page: Page, tmp_path: Path
) -> None:
    base, pdf = service
    reference, report_id = Path(f"{pdf}.ref").read_text().split()
    page.goto(f"{base}/verify")
    page.fill("#reference", reference.lower())
    page.fill("#report_id", report_id)
    page.click("#verify-reference button[type=submit]")
    expect(page.locator("#verify-verdict")).to_have_attribute("data-verdict", "valid")

    page.goto(f"{base}/verify")
    page.fill("#reference", "ABCD-EFGH-JKMN-PQRS-TVWX")
    page.fill("#report_id", report_id)
    page.click("#verify-reference button[type=submit]")
    expect(page.locator("#verify-verdict")).to_have_attribute("data-reason", "unknown_reference")
    expect(page.locator("#verify-reason")).to_contain_text("不对应任何已签发的报告")

    page.goto(f"{base}/verify")
    page.fill("#reference", "not a reference")
    page.fill("#report_id", report_id)
    page.click("#verify-reference button[type=submit]")
    expect(page.locator("#verify-message")).to_contain_text("核验码是 20 位字母和数字")
    page.screenshot(path=str(tmp_path / "verify-bad-input.png"), full_page=True)
