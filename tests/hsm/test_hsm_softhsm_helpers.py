"""The SoftHSM2 development helpers (run softhsm2-util for real, in a scratch directory)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hsm import softhsm
from hsm.softhsm import init_softhsm_token, token_exists, write_softhsm_config

pytestmark = pytest.mark.hsm


def test_config_file_and_token_directory(tmp_path: Path) -> None:
    conf = write_softhsm_config(tmp_path / "tokens", tmp_path / "etc" / "softhsm2.conf")
    text = conf.read_text()
    assert f"directories.tokendir = {(tmp_path / 'tokens').resolve()}" in text
    assert "library.reset_on_fork = true" in text
    assert "objectstore.umask = 0077" in text
    assert stat.S_IMODE((tmp_path / "tokens").stat().st_mode) == 0o700
    other = write_softhsm_config(tmp_path / "t2", tmp_path / "c2.conf", reset_on_fork=False)
    assert "library.reset_on_fork = false" in other.read_text()


def test_init_token_passes_pins_through_a_terminal_not_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = write_softhsm_config(tmp_path / "tokens", tmp_path / "softhsm2.conf")
    so_pin, user_pin = secrets.token_hex(8), secrets.token_hex(8)
    seen: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(argv: list[str], **kwargs: Any) -> Any:
        seen.append(list(argv))
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    assert not token_exists(conf, "helper-token")
    init_softhsm_token(conf, "helper-token", so_pin, user_pin)
    assert token_exists(conf, "helper-token")
    assert not token_exists(conf, "helper-token-2")
    assert seen
    assert all(so_pin not in arg and user_pin not in arg for argv in seen for arg in argv)
    # the token files are private to the owner
    for path in (tmp_path / "tokens").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path

    with pytest.raises(FileExistsError):
        init_softhsm_token(conf, "helper-token", so_pin, user_pin)


def _recording_softhsm2_util(bin_dir: Path, record: Path) -> None:
    """Put a softhsm2-util on PATH that appends its argv and environment to `record` (one JSON
    line per run, nothing on the terminal) and then becomes the real softhsm2-util."""
    real = shutil.which("softhsm2-util")
    assert real is not None
    bin_dir.mkdir()
    wrapper = bin_dir / "softhsm2-util"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(record)!r}, 'a', encoding='utf-8') as out:\n"
        "    out.write(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}) + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o700)


def test_softhsm2_util_does_not_inherit_pins_or_the_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "softhsm2-util-runs.jsonl"
    _recording_softhsm2_util(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    secret_values = {
        "CREDITGATE_PIN": secrets.token_hex(8),
        "CREDITGATE_PIN_FILE": str(tmp_path / f"pin-{secrets.token_hex(8)}"),
        "SOFTHSM_SO_PIN": secrets.token_hex(8),
        "user_pin_lowercase": secrets.token_hex(8),
        "CREDITGATE_SECRET_KEY": secrets.token_hex(16),
    }
    for name, value in secret_values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CG_HARMLESS_MARKER", "passed-through")
    conf = write_softhsm_config(tmp_path / "tokens", tmp_path / "softhsm2.conf")

    init_softhsm_token(conf, "env-token", secrets.token_hex(8), secrets.token_hex(8))

    assert token_exists(conf, "env-token")
    runs = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert {run["argv"][0] for run in runs} == {"--show-slots", "--init-token"}
    for run in runs:
        env: dict[str, str] = run["env"]
        assert env["CG_HARMLESS_MARKER"] == "passed-through"  # the wrapper saw the real env
        assert env["SOFTHSM2_CONF"] == str(conf.resolve())
        assert not [name for name in env if "PIN" in name.upper()]
        assert "CREDITGATE_SECRET_KEY" not in env
        assert not [v for v in env.values() for s in secret_values.values() if s in v]


@pytest.mark.parametrize(
    ("label", "so_pin", "user_pin"),
    [
        ("", "12345678", "12345678"),
        ("x" * 33, "12345678", "12345678"),
        ("ok", "123", "12345678"),
        ("ok", "12345678", "12\n345678"),
    ],
)
def test_init_token_rejects_bad_arguments(
    tmp_path: Path, label: str, so_pin: str, user_pin: str
) -> None:
    conf = write_softhsm_config(tmp_path / "tokens", tmp_path / "softhsm2.conf")
    with pytest.raises(ValueError, match=r"label|PIN") as excinfo:
        init_softhsm_token(conf, label, so_pin, user_pin)
    assert "12345678" not in str(excinfo.value)


def test_init_token_failure_does_not_reveal_pins(tmp_path: Path) -> None:
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'absent'}\nobjectstore.backend = file\n")
    so_pin, user_pin = secrets.token_hex(8), secrets.token_hex(8)
    with pytest.raises(RuntimeError) as excinfo:
        init_softhsm_token(conf, "never", so_pin, user_pin)
    assert so_pin not in str(excinfo.value)
    assert user_pin not in str(excinfo.value)


def test_softhsm2_util_does_not_echo_pins_on_the_terminal(tmp_path: Path) -> None:
    conf = write_softhsm_config(tmp_path / "tokens", tmp_path / "softhsm2.conf")
    first, second = secrets.token_hex(8), secrets.token_hex(8)
    answers = [first, second]  # the re-entered SO PIN differs: softhsm2-util gives up
    output = softhsm._run_with_prompts(
        [softhsm._softhsm_util(), "--init-token", "--free", "--label", "mismatch"],
        softhsm._env(conf),
        answers,
    )
    assert output.returncode != 0
    assert answers == []
    assert "SO PIN" in output.text
    assert first not in output.text
    assert second not in output.text
    assert not token_exists(conf, "mismatch")
