"""The README's smart-card login by hand, run exactly as written, and the command-line client,
against a live gunicorn on a fresh var/ directory with the `make run` demo cards.

The README block is taken from the section "Logging in with a smart card by hand" and run by
bash on a pseudo-terminal (pkcs11-tool and `read -s` need one), answering the password and PIN
prompts only once the terminal has stopped echoing. Only the `BASE=` line is replaced (the test
server has its own port); `var` is the fresh directory, linked into the working directory, and
`TMPDIR` is the test's, so the scratch directory the block makes can be inspected.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.live import (
    BIN,
    ROOT,
    LiveServer,
    fresh_env,
    readme_bash_block,
    run_flask,
)

SECTION = "## Logging in with a smart card by hand"


def walkthrough_script() -> str:
    """The login block of the README, as written."""
    return readme_bash_block(SECTION)


def on_terminal(
    argv: list[str], env: dict[str, str], cwd: Path, answers: dict[str, str], timeout: float = 120
) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal; answer each prompt ending in a key of `answers` (once
    echo is off, so the answer never appears in the transcript). Returns (exit code, transcript)."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        argv, stdin=terminal, stdout=terminal, stderr=terminal, cwd=cwd, env=env
    )
    os.close(terminal)
    transcript, answered = b"", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            transcript += chunk
            pending = transcript[answered:].rstrip()
            for prompt, answer in answers.items():
                if pending.endswith(prompt.encode()):
                    echo_off = time.monotonic() + 10
                    while termios.tcgetattr(controller)[3] & termios.ECHO:
                        assert time.monotonic() < echo_off, f"{prompt!r} was asked with echo on"
                        time.sleep(0.02)
                    os.write(controller, answer.encode() + b"\n")
                    answered = len(transcript)
                    break
        else:
            pytest.fail(f"{argv[0]} did not finish: {transcript.decode(errors='replace')}")
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return code, transcript.decode("utf-8", "replace")


class Demo:
    def __init__(self, env: dict[str, str], outputs: list[str]) -> None:
        self.env = env
        self.var_dir = Path(env["CREDITGATE_VAR_DIR"])
        self.outputs = outputs
        lines = (self.var_dir / "demo-credentials.txt").read_text().splitlines()
        rows = [line.split() for line in lines if line.startswith("demo-subject-")]
        #: username -> (password, card token label, card PIN)
        self.logins = {row[0]: (row[1], row[2], row[3]) for row in rows}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    env = fresh_env(tmp_path_factory.mktemp("var"))
    outputs = []
    for step in (
        ("hsm", "init"),
        ("db", "upgrade"),
        ("demo", "seed", "--subjects", "6", "--seed", "3", "--if-missing"),
        ("cards", "demo", "--count", "3"),
        ("cards", "demo", "--count", "3"),
    ):
        done = run_flask(env, *step)
        assert done.returncode == 0, f"flask {' '.join(step)}: {done.stderr[-1500:]}"
        outputs.append(done.stdout + done.stderr)
    return Demo(env, outputs)


@pytest.fixture(scope="module")
def server(demo: Demo) -> Iterator[str]:
    live = LiveServer(demo.env)
    yield live.base
    errors = live.stop()
    for password, _, pin in demo.logins.values():
        assert password not in errors
        assert pin not in errors


def test_make_run_creates_demo_cards_once_and_then_only_prints_them(demo: Demo) -> None:
    first, second = demo.outputs[3], demo.outputs[4]
    assert first.startswith("created demo logins")
    assert second.startswith("existing demo logins")
    assert first.split("\n", 1)[1] == second.split("\n", 1)[1]
    assert sorted(demo.logins) == ["demo-subject-1", "demo-subject-2", "demo-subject-3"]
    assert [card for _, card, _ in demo.logins.values()] == [
        "creditgate-card-1",
        "creditgate-card-2",
        "creditgate-card-3",
    ]
    assert (demo.var_dir / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600
    listed = run_flask(demo.env, "cards", "list", "--account", "demo-subject-3")
    assert re.match(r"^[0-9a-f]{64}  ec-p256   active ", listed.stdout)


def test_the_readme_walkthrough_logs_in_with_pkcs11_tool_and_curl(
    demo: Demo, server: str, tmp_path: Path
) -> None:
    script = walkthrough_script()
    assert script.count("\nBASE=http://localhost:8080\n") == 1
    script = script.replace("\nBASE=http://localhost:8080\n", f"\nBASE={server}\n")
    (tmp_path / "var").symlink_to(demo.var_dir)
    (tmp_path / "walkthrough.sh").write_text(script)
    password, card, pin = demo.logins["demo-subject-1"]
    assert "USERNAME=demo-subject-1" in script
    assert f"CARD={card}" in script
    scratch = tmp_path / "tmp"  # where the block's `mktemp -d` makes its directory
    scratch.mkdir()
    env = {key: demo.env[key] for key in ("PATH", "HOME") if key in demo.env}
    env["TMPDIR"] = str(scratch)
    code, transcript = on_terminal(
        ["/bin/bash", "-e", "-o", "pipefail", "walkthrough.sh"],
        env,
        tmp_path,
        {"Password:": password, "User PIN:": pin},
    )
    assert code == 0, transcript
    assert password not in transcript
    assert pin not in transcript
    lines = [line.strip() for line in transcript.splitlines()]
    assert "64" in lines  # the signature pkcs11-tool wrote is raw r||s
    replies = [json.loads(line) for line in lines if line.startswith("{")]
    login, session = replies[-2], replies[-1]
    assert login["username"] == session["username"] == "demo-subject-1"
    assert sorted(session["methods"]) == ["card", "password"]
    assert session["kind"] == "subject"
    # nothing lands in the directory it ran from; the scratch directory keeps only the cookie
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp", "var", "walkthrough.sh"]
    [work] = scratch.iterdir()
    assert work.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in work.iterdir()) == ["jar"]
    assert (work / "jar").stat().st_mode & 0o777 == 0o600


def test_the_client_logs_in_and_a_revoked_card_ends_the_session_and_the_next_login(
    demo: Demo, server: str, tmp_path: Path
) -> None:
    password, card, pin = demo.logins["demo-subject-2"]
    env = {
        **demo.env,
        "SOFTHSM2_CONF": str(demo.var_dir / "softhsm" / "softhsm2.conf"),
        "CREDITGATE_CLIENT_HOME": str(tmp_path / "client"),
    }
    client = [str(BIN / "python"), "-m", "app.client"]
    login = [*client, "login", "--url", server, "--username", "demo-subject-2"]
    login += ["--token-label", card]
    prompts = {"Password for demo-subject-2:": password, f"PIN for card {card}:": pin}

    code, transcript = on_terminal(login, env, ROOT, {**prompts, f"PIN for card {card}:": "1"})
    assert code == 2
    assert transcript.strip().endswith(f"Wrong PIN for card '{card}'.")

    code, transcript = on_terminal(login, env, ROOT, prompts)
    assert code == 0, transcript
    assert "Logged in as demo-subject-2 (card+password)." in transcript
    assert password not in transcript
    assert pin not in transcript
    code, transcript = on_terminal([*client, "whoami"], env, ROOT, {})
    assert code == 0
    assert "demo-subject-2 (subject) logged in with card+password" in transcript

    listed = run_flask(demo.env, "cards", "list", "--account", "demo-subject-2").stdout
    thumbprint = listed.split()[0]
    revoked = run_flask(demo.env, "cards", "revoke", "--thumbprint", thumbprint, "--reason", "lost")
    assert "revoked; 1 live session(s) ended" in revoked.stdout, revoked.stderr
    code, transcript = on_terminal([*client, "whoami"], env, ROOT, {})
    assert code == 1
    assert "Your session has ended. Log in again." in transcript
    code, transcript = on_terminal(login, env, ROOT, prompts)
    assert code == 1
    assert transcript.strip().endswith("Login failed.")


def test_demo_cards_refuse_to_guess_lost_credentials(demo: Demo) -> None:
    credentials = demo.var_dir / "demo-credentials.txt"
    kept = credentials.read_bytes()
    credentials.unlink()
    try:
        done = run_flask(demo.env, "cards", "demo", "--count", "3")
    finally:
        credentials.write_bytes(kept)
        credentials.chmod(0o600)
    assert done.returncode == 1
    assert "demo-subject-1, demo-subject-2, demo-subject-3" in done.stderr
    assert "start from a clean var/" in done.stderr
