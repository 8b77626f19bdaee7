"""Shared pieces of the live-service tests: a clean environment on a fresh var/ directory,
`flask` commands in subprocesses, and free loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def fresh_env(var_dir: Path) -> dict[str, str]:
    """A minimal environment (no SOFTHSM2_CONF or secrets inherited from the test process)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env["CREDITGATE_VAR_DIR"] = str(var_dir)
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_flask(
    env: dict[str, str], *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"flask {' '.join(args)}: {done.stderr[-1500:]}"
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
