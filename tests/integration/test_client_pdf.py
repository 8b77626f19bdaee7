"""`python -m app.client report --pdf FILE` end to end: a demo subject logs in with password
and card (SoftHSM2 card, PIN on a pseudo-terminal), downloads the signed PDF of the own report
from gunicorn, and the PDF validates with `pyhanko sign validate` and poppler's `pdfsig`
against the report CA's root printed by `flask reports ca-cert`; the public verification says
valid, and not valid once a byte is changed."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from tests.integration.live import BIN, ROOT, run_flask
from tests.integration.test_card_walkthrough import Demo, demo, on_terminal, server
from tests.pdf.helpers import flip_signed_byte

__all__ = ["demo", "server"]
CLIENT = [str(BIN / "python"), "-m", "app.client"]


def _verify(server: str, content: bytes) -> dict[str, object]:
    sent = urllib.request.Request(  # noqa: S310
        f"{server}/api/v1/report-verifications",
        data=content,
        headers={"Content-Type": "application/pdf"},
        method="POST",
    )
    with urllib.request.urlopen(sent, timeout=30) as answer:  # noqa: S310
        verdict: dict[str, object] = json.loads(answer.read())
        return verdict


def test_the_client_downloads_a_signed_pdf_that_validators_accept(
    demo: Demo, server: str, tmp_path: Path
) -> None:
    run_flask(demo.env, "reports", "certify", check=True)
    root = tmp_path / "report-ca.pem"
    root.write_text(run_flask(demo.env, "reports", "ca-cert", check=True).stdout)
    env = {
        **demo.env,
        "SOFTHSM2_CONF": str(demo.var_dir / "softhsm" / "softhsm2.conf"),
        "CREDITGATE_CLIENT_HOME": str(tmp_path / "home"),
    }
    username = "demo-subject-3"
    password, card, pin = demo.logins[username]
    login = [*CLIENT, "login", "--url", server, "--username", username, "--token-label", card]
    prompts = {f"Password for {username}:": password, f"PIN for card {card}:": pin}
    code, transcript = on_terminal(login, env, ROOT, prompts)
    assert code == 0, transcript

    pdf = tmp_path / "my-report.pdf"
    code, transcript = on_terminal([*CLIENT, "report", "--pdf", str(pdf)], env, ROOT, {})
    assert code == 0, transcript
    assert pdf.stat().st_mode & 0o777 == 0o600
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-")

    validated = subprocess.run(
        [
            *(str(BIN / "pyhanko"), "sign", "validate", "--pretty-print", "--trust-replace"),
            *("--trust", str(root), str(pdf)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "The signature is judged VALID" in validated.stdout

    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "ca", "-t", "C,C,C", "-i", str(root)],
        check=True,
    )
    pdfsig = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, check=False
    ).stdout
    assert "Signature Validation: Signature is Valid." in pdfsig
    assert "Certificate Validation: Certificate is Trusted." in pdfsig

    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    assert "信息概要" in text
    assert _verify(server, content)["valid"] is True
    assert _verify(server, flip_signed_byte(content)) == {"valid": False, "reason": "altered"}
