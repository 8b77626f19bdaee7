"""Consent tokens end to end against a live gunicorn on a fresh var/ with the demo cards:

- the README section "Consent tokens by hand" run exactly as written (after the README's login
  block, whose `jar` it uses), with pkcs11-tool asking the card PIN on a pseudo-terminal and an
  institution asking for the report with its bearer token;
- `python -m app.client consent create` signing on a SoftHSM2 card, then an institution query
  with that token succeeding, the use shown by `consent list`, the query in the subject's
  `query-records`, and the token refused once revoked.

Only the `BASE=` line of the README blocks is replaced (the test server has its own port).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from policies.identifiers import make_credit_code
from tests.integration.live import BIN, ROOT, readme_bash_block, run_flask
from tests.integration.test_card_walkthrough import (
    Demo,
    demo,
    on_terminal,
    server,
    walkthrough_script,
)
from tests.web.oauth_helpers import private_pem, public_pem

__all__ = ["demo", "server"]

SECTION = "## Consent tokens by hand"
PURPOSE = "loan_approval"
LOCAL_BASE = "\nBASE=http://localhost:8080\n"


@dataclass
class Bank:
    client_id: str
    key: ec.EllipticCurvePrivateKey
    key_file: Path


@pytest.fixture(scope="module")
def bank(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Bank:
    """A registered institution (EC P-256 key, scope institution:report:query), topped up."""
    key = ec.generate_private_key(ec.SECP256R1())
    where = tmp_path_factory.mktemp("bank")
    (where / "bank-key.pem").write_bytes(private_pem(key))
    (where / "bank-key.pem").chmod(0o600)
    (where / "bank-pub.pem").write_bytes(public_pem(key))
    code = make_credit_code("9", "1", "500000", "MA000042")
    done = run_flask(
        demo.env,
        *("institutions", "register", "--credit-code", code, "--name", "Example Bank"),
        *("--public-key", str(where / "bank-pub.pem"), "--scope", "institution:report:query"),
        check=True,
    )
    client_id = re.search(r"^client_id: (\S+)$", done.stdout, re.MULTILINE)
    assert client_id is not None, done.stdout
    run_flask(
        demo.env,
        *("billing", "top-up", client_id.group(1), "100000", "--reference", "receipt-1"),
        check=True,
    )
    return Bank(client_id.group(1), key, where / "bank-key.pem")


def _client_env(demo: Demo, home: Path) -> dict[str, str]:
    return {
        **demo.env,
        "SOFTHSM2_CONF": str(demo.var_dir / "softhsm" / "softhsm2.conf"),
        "CREDITGATE_CLIENT_HOME": str(home),
    }


CLIENT = [str(BIN / "python"), "-m", "app.client"]


def _client_login(demo: Demo, server: str, username: str, env: dict[str, str]) -> None:
    password, card, pin = demo.logins[username]
    argv = [*CLIENT, "login", "--url", server, "--username", username, "--token-label", card]
    prompts = {f"Password for {username}:": password, f"PIN for card {card}:": pin}
    code, transcript = on_terminal(argv, env, ROOT, prompts)
    assert code == 0, transcript


def _client(env: dict[str, str], *argv: str) -> tuple[int, str]:
    return on_terminal([*CLIENT, *argv], env, ROOT, {})


def _own_id_number(env: dict[str, str]) -> str:
    code, transcript = _client(env, "report", "--json")
    assert code == 0, transcript
    start = transcript.index("{")
    body = json.loads(transcript[start:])
    id_number: str = body["subject"]["id_number"]
    assert len(id_number) == 18  # the subject's own report shows it in full
    return id_number


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    sent = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _bearer(server: str, bank: Bank) -> str:
    now = int(time.time())
    claims = {"iss": bank.client_id, "sub": bank.client_id, "iat": now, "exp": now + 120}
    claims |= {"aud": f"{server}/api/v1/oauth/token", "jti": f"t{now}{time.monotonic_ns()}"}
    assertion = jwt.encode({"alg": "ES256"}, claims, ECKey.import_key(private_pem(bank.key)))
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": "institution:report:query",
    }
    status, body = _post(
        f"{server}/api/v1/oauth/token",
        urllib.parse.urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    token: str = body["access_token"]
    return token


def _institution_query(
    server: str, bank: Bank, id_number: str, token: str
) -> tuple[int, dict[str, Any]]:
    body = {"id_number": id_number, "purpose": PURPOSE, "consent_token": token}
    headers = {"Authorization": f"Bearer {_bearer(server, bank)}"}
    headers["Content-Type"] = "application/json"
    return _post(f"{server}/api/v1/institution/reports", json.dumps(body).encode(), headers)


def consent_script() -> str:
    """The consent-token block of the README, as written."""
    return readme_bash_block(SECTION)


def test_the_readme_consent_token_by_hand_gets_the_institution_a_report(
    demo: Demo, server: str, bank: Bank, tmp_path: Path
) -> None:
    password, card, pin = demo.logins["demo-subject-1"]
    env = _client_env(demo, tmp_path / "client")
    _client_login(demo, server, "demo-subject-1", env)
    id_number = _own_id_number(env)

    login, consent = walkthrough_script(), consent_script()
    assert login.count(LOCAL_BASE) == 1
    assert consent.count(LOCAL_BASE) == 1
    assert f"CARD={card}" in consent
    work, given, scratch = tmp_path / "work", tmp_path / "given", tmp_path / "tmp"
    for directory in (work, given, scratch):
        directory.mkdir()
    (work / "var").symlink_to(demo.var_dir)
    (given / "bank-key.pem").write_bytes(bank.key_file.read_bytes())
    (given / "bank-client-id").write_text(bank.client_id + "\n")
    (given / "subject-id-number").write_text(id_number + "\n")
    # between the blocks, the reader puts the institution's files in the scratch directory
    handing_over = f"cp {given}/bank-key.pem {given}/bank-client-id {given}/subject-id-number .\n"
    script = (login + handing_over + consent).replace(LOCAL_BASE, f"\nBASE={server}\n")
    (work / "walkthrough.sh").write_text(script)
    shell_env = {key: demo.env[key] for key in ("PATH", "HOME") if key in demo.env}
    shell_env["TMPDIR"] = str(scratch)
    code, transcript = on_terminal(
        ["/bin/bash", "-e", "-o", "pipefail", "walkthrough.sh"],
        shell_env,
        work,
        {"Password:": password, "User PIN:": pin},
    )
    assert code == 0, transcript
    assert password not in transcript
    assert pin not in transcript
    assert id_number not in transcript  # the institution's report shows it masked
    replies = [json.loads(line) for line in transcript.splitlines() if line.startswith("{")]
    registered, report = replies[-2], replies[-1]
    assert registered["consent"]["status"] == "active"
    assert registered["consent"]["institution"] == bank.client_id
    assert report["report"]["kind"] == "institution"
    assert report["report"]["purpose"] == PURPOSE
    assert report["report"]["fee_fen"] > 0
    assert report["sections"]["social"] == []  # C is neither in the purpose nor in the scope
    assert sorted(p.name for p in work.iterdir()) == ["var", "walkthrough.sh"]
    [scratch_dir] = scratch.iterdir()
    left = sorted(p.name for p in scratch_dir.iterdir())
    assert left == ["bank-client-id", "bank-key.pem", "jar", "subject-id-number"]


def test_client_consent_create_lets_the_institution_query_until_revoked(
    demo: Demo, server: str, bank: Bank, tmp_path: Path
) -> None:
    _, card, pin = demo.logins["demo-subject-2"]
    env = _client_env(demo, tmp_path / "client")
    _client_login(demo, server, "demo-subject-2", env)
    id_number = _own_id_number(env)

    argv = [*CLIENT, "consent", "create", "--institution", bank.client_id, "--purpose", PURPOSE]
    argv += ["--days", "7", "--scope", "A,B", "--max-uses", "2", "--token-label", card]
    code, transcript = on_terminal(argv, env, ROOT, {f"PIN for card {card}:": pin})
    assert code == 0, transcript
    assert pin not in transcript
    found = re.search(r"^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$", transcript, re.M)
    assert found is not None, transcript
    token = found.group(1)
    summary = re.search(r"^Consent (\S+) for ", transcript, re.MULTILINE)
    assert summary is not None, transcript
    jti = summary.group(1)

    status, report = _institution_query(server, bank, id_number, token)
    assert status == 200, report
    assert report["report"]["kind"] == "institution"
    assert report["sections"]["special"] == []  # D is in the purpose but not in the scope
    assert id_number not in json.dumps(report, ensure_ascii=False)

    code, listed = _client(env, "consent", "list")
    assert code == 0, listed
    assert f"{jti}  active  for {bank.client_id}  purpose {PURPOSE}  scope A, B  used 1/2" in listed
    code, records = _client(env, "query-records")
    assert code == 0, records
    assert "Example Bank  institution:report:query  purpose loan_approval" in records

    code, revoked = _client(env, "consent", "revoke", jti)
    assert code == 0, revoked
    assert f"Revoked: {jti}  revoked" in revoked
    status, refusal = _institution_query(server, bank, id_number, token)
    assert (status, refusal["error"]) == (403, "revoked")
