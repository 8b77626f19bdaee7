"""Shared pieces of the live-service tests: a clean environment on a fresh var/ directory,
`flask` commands in subprocesses, and free loopback ports."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def readme_bash_block(section: str) -> str:
    """The first ```bash block of the README section headed `section`, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert section in readme, f"the README has no section {section!r}"
    body = readme.split(section, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```bash\n(.*?)```", body, re.DOTALL)
    assert found is not None, f"the ```bash block of {section!r} is missing"
    return found.group(1)


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


class LiveServer:
    """gunicorn with two forked workers on a free loopback port, ready once `/healthz` answers.

    `stop()` ends it and returns what it wrote to stderr, for the secret checks.
    """

    def __init__(self, env: dict[str, str], *extra_args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {"CREDITGATE_PUBLIC_URL": self.base, **env}  # what its callers sign as `aud`
        self._process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                *extra_args,
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2).close()  # noqa: S310
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("gunicorn did not answer /healthz within 30 s")

    def stop(self) -> str:
        self._process.terminate()
        _, errors = self._process.communicate(timeout=30)
        return errors
