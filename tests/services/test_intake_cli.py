"""`flask providers register` and `flask intake load|receipt`: signed files, streamed, receipts.

A signed file is what `openssl dgst -sha256 -sign key.pem -out FILE.sig FILE` makes (ECDSA P-256,
DER); the tests sign with the same algorithm through `cryptography`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from sqlalchemy import func, select

from app.container import container
from app.models import IntakeBatch, Record
from policies.identifiers import make_credit_code
from tests.clocks import MovableClock
from tests.web.intake_helpers import TODAY, Provider, jsonl, judgment
from tests.web.oauth_helpers import ec_key, public_pem


@pytest.fixture(autouse=True)
def _today(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def _register(app: Flask, tmp_path: Path, key: ec.EllipticCurvePrivateKey, code: str) -> str:
    pem = tmp_path / f"{code}.pem"
    pem.write_bytes(public_pem(key))
    done = app.test_cli_runner().invoke(
        args=[
            "providers", "register", "--credit-code", code, "--name", "重庆市税务局",
            "--kind", "tax_bureau", "--public-key", str(pem),
        ]
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    found = re.search(r"client_id: (inst-[0-9a-f]{16})", done.output)
    assert found is not None
    return found.group(1)


def _signed(path: Path, body: bytes, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(body)
    path.with_name(path.name + ".sig").write_bytes(key.sign(body, ec.ECDSA(hashes.SHA256())))
    return path


def _records(app: Flask) -> int:
    with container(app).sessions() as db:
        return int(db.scalar(select(func.count()).select_from(Record)) or 0)


def test_a_signed_file_is_verified_streamed_and_receipted(app: Flask, tmp_path: Path) -> None:
    key = ec_key()
    code = make_credit_code("1", "1", "500000", "70000001")
    client_id = _register(app, tmp_path, key, code)
    provider = Provider(code, client_id, key)
    rows = [judgment(provider, f"F-{n}", 400 + n % 500) for n in range(1, 2501)]
    rows[1799] = "{cut"  # a malformed row in the second chunk
    batch = _signed(tmp_path / "batch.jsonl", jsonl(rows), key)
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["intake", "load", str(batch), "--provider", code, "--quiet"])
    assert loaded.exit_code == 0, loaded.output
    assert "added 2499" in loaded.output
    assert "row 1800: -: format.malformed_line" in loaded.output
    assert _records(app) == 2499
    batch_id = re.search(r"batch ([0-9a-f-]{36})", loaded.output)
    assert batch_id is not None
    again = runner.invoke(args=["intake", "load", str(batch), "--provider", code, "--quiet"])
    assert again.exit_code == 1
    assert "was loaded already" in again.output
    shown = runner.invoke(args=["intake", "receipt", batch_id.group(1)])
    assert "rejected 1" in shown.output
    listed = runner.invoke(args=["providers", "list"])
    assert client_id in listed.output


def test_a_file_not_signed_by_the_provider_is_refused_and_nothing_is_stored(
    app: Flask, tmp_path: Path
) -> None:
    key = ec_key()
    code = make_credit_code("1", "1", "500000", "70000002")
    client_id = _register(app, tmp_path, key, code)
    provider = Provider(code, client_id, key)
    runner = app.test_cli_runner()
    forged = _signed(tmp_path / "forged.jsonl", jsonl([judgment(provider, "G-1", 501)]), ec_key())
    refused = runner.invoke(args=["intake", "load", str(forged), "--provider", code, "--quiet"])
    assert refused.exit_code == 1
    assert "does not verify under the provider's registered key" in refused.output
    tampered = _signed(tmp_path / "t.jsonl", jsonl([judgment(provider, "G-2", 502)]), key)
    tampered.write_bytes(tampered.read_bytes().replace(b"G-2", b"G-3"))
    assert runner.invoke(args=["intake", "load", str(tampered), "--provider", code]).exit_code == 1
    unsigned = tmp_path / "unsigned.jsonl"
    unsigned.write_bytes(jsonl([judgment(provider, "G-4", 503)]))
    missing = runner.invoke(args=["intake", "load", str(unsigned), "--provider", code])
    assert "a batch file must be signed" in missing.output
    nobody = runner.invoke(
        args=[
            "intake",
            "load",
            str(forged),
            "--provider",
            make_credit_code("1", "1", "500000", "70000003"),
        ]
    )
    assert "no registered provider" in nobody.output
    assert _records(app) == 0
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(IntakeBatch)) == 0


def test_a_cut_short_file_applies_its_whole_rows_and_names_the_cut_one(
    app: Flask, tmp_path: Path
) -> None:
    key = ec_key()
    code = make_credit_code("1", "1", "500000", "70000004")
    provider = Provider(code, _register(app, tmp_path, key, code), key)
    body = jsonl([judgment(provider, "H-1", 511), judgment(provider, "H-2", 512)])
    cut = _signed(tmp_path / "cut.jsonl", body[: len(body) - 40], key)
    loaded = app.test_cli_runner().invoke(args=["intake", "load", str(cut), "--provider", code])
    assert loaded.exit_code == 0, loaded.output
    assert "added 1" in loaded.output
    assert "row 2: -: format.truncated_line" in loaded.output
