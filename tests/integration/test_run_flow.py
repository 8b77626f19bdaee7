"""The `make run` path on a fresh var/ directory, end to end, in subprocesses.

Real SoftHSM2 token created by `flask hsm init`, a migrated SQLite file, demo data, and
gunicorn with two forked workers each logging in to the token lazily after the fork. The one
HTML page is loaded in real headless Chromium.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.live import LiveServer, fresh_env, run_flask


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], list[str]]]:
    var_dir = tmp_path_factory.mktemp("var")
    env = fresh_env(var_dir)
    outputs: list[str] = []
    steps = [
        ("hsm", "init"),
        ("hsm", "init"),
        ("db", "upgrade"),
        ("demo", "seed", "--subjects", "30", "--seed", "3", "--if-missing"),
        ("demo", "seed", "--subjects", "40", "--seed", "3", "--if-missing"),
        ("demo", "seed", "--subjects", "40", "--seed", "3", "--if-missing"),
        ("hsm", "selftest"),
        ("reports", "certify"),
        ("reports", "certify"),
    ]
    for step in steps:
        done = run_flask(env, *step)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, f"flask {' '.join(step)} failed: {done.stderr[-1500:]}"
    return env, outputs


def test_setup_creates_once_and_then_reuses_everything(
    installed: tuple[dict[str, str], list[str]],
) -> None:
    _, outputs = installed
    assert "created SoftHSM2 token" in outputs[0]
    assert "created keys: cg-master-wrap" in outputs[0]
    assert "nothing changed" in outputs[1]
    assert "created" not in outputs[1]
    assert "loaded 30 subjects" in outputs[3]
    assert "loaded 10 subjects" in outputs[4]  # resumed: the first 30 are skipped
    assert "30 subjects already present" in outputs[4]
    assert "already present; nothing loaded" in outputs[5]
    assert outputs[6].count("ok ") == 9  # every key, the report CA and signing key too
    assert "report CA root: made; signer certificate made" in outputs[7]
    assert "report CA root: kept; signer certificate kept" in outputs[8]


def test_no_pin_or_secret_appears_in_any_output(
    installed: tuple[dict[str, str], list[str]],
) -> None:
    env, outputs = installed
    var_dir = Path(env["CREDITGATE_VAR_DIR"])
    secrets = [
        (var_dir / "softhsm" / "user-pin").read_text().strip(),
        (var_dir / "softhsm" / "so-pin").read_text().strip(),
        (var_dir / "secret-key").read_text().strip(),
    ]
    for secret in secrets:
        assert all(secret not in output for output in outputs)
    for name in ("user-pin", "so-pin"):
        assert (var_dir / "softhsm" / name).stat().st_mode & 0o777 == 0o600


def test_a_lost_pin_file_is_not_silently_replaced(
    installed: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    env = fresh_env(tmp_path)
    (tmp_path / "softhsm").mkdir()
    (tmp_path / "softhsm" / "user-pin").write_text("9731-old-pin\n")
    done = run_flask(env, "hsm", "init")
    assert done.returncode != 0
    assert "refusing to create a token" in done.stderr
    assert "9731-old-pin" not in done.stderr


@pytest.fixture(scope="module")
def server(installed: tuple[dict[str, str], list[str]]) -> Iterator[str]:
    env, _ = installed
    access_log = Path(env["CREDITGATE_VAR_DIR"]) / "access.log"
    live = LiveServer(
        env, "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(U)s %(s)s"
    )
    yield live.base
    errors = live.stop()
    var_dir = Path(env["CREDITGATE_VAR_DIR"])
    assert (var_dir / "softhsm" / "user-pin").read_text().strip() not in errors


def test_every_forked_worker_logs_in_and_reaches_the_hsm(
    server: str, installed: tuple[dict[str, str], list[str]]
) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as held:
        # A sync worker that accepted this unfinished request is busy until it completes, so
        # the requests below must be answered by the other worker.
        held.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)
        for _ in range(5):
            with urllib.request.urlopen(server + "/readyz", timeout=30) as response:  # noqa: S310
                assert response.status == 200
        held.sendall(b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := held.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    time.sleep(0.2)  # the access log line is written after the response
    log = (Path(installed[0]["CREDITGATE_VAR_DIR"]) / "access.log").read_text().split("\n")
    pids = {line.split()[0] for line in log if line.endswith("/readyz 200")}
    assert len(pids) == 2, f"expected both workers to answer, saw {len(pids)}"


def test_the_home_page_renders_in_chromium(server: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium is not None, "make test installs Debian's chromium"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            server + "/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-1000:]
    dom = done.stdout
    assert "信用信息目录" in dom
    assert dom.count("<tr>") >= 21  # header + at least 20 record types
    assert "D.dishonest_debtor" in dom
