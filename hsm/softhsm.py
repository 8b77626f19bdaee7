"""SoftHSM2 development helpers: configuration file, token initialisation, token lookup.

Guarantees:

- PINs are never logged, never put in an exception message and never passed on a command line:
  `init_softhsm_token` answers softhsm2-util's PIN prompts through a pseudo-terminal, so they do
  not appear in ``/proc/<pid>/cmdline`` or ``ps`` output (softhsm2-util reads PINs only from a
  terminal; it echoes ``*``).
- softhsm2-util does not inherit PINs or the secret key from this process's environment: every
  variable whose name contains ``PIN`` (in any case; e.g. CREDITGATE_PIN, CREDITGATE_PIN_FILE) and
  CREDITGATE_SECRET_KEY are left out of its environment.
- These helpers never load the PKCS#11 module into the calling process (they run softhsm2-util
  in a child process), so they can be used before `Pkcs11KeyProvider` sets SOFTHSM2_CONF.
- Token directories are created 0700 and token files with umask 077.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

#: Where distributions install the SoftHSM2 PKCS#11 module.
SOFTHSM_MODULE_CANDIDATES: tuple[str, ...] = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

_TIMEOUT_SECONDS = 30.0


def find_softhsm_module() -> str:
    """Path of the installed SoftHSM2 module; `FileNotFoundError` if there is none."""
    for candidate in SOFTHSM_MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    raise FileNotFoundError("SoftHSM2 module not found; install softhsm2")


def _softhsm_util() -> str:
    path = shutil.which("softhsm2-util")
    if path is None:
        raise FileNotFoundError("softhsm2-util not found; install softhsm2")
    return path


#: Never passed on to softhsm2-util, besides every variable whose name contains "PIN".
_WITHHELD_VARIABLES = frozenset({"CREDITGATE_SECRET_KEY"})


def _withheld(name: str) -> bool:
    upper = name.upper()
    return "PIN" in upper or upper in _WITHHELD_VARIABLES


def _env(conf_path: Path) -> dict[str, str]:
    """softhsm2-util's environment: this process's, minus PINs and secrets, with SOFTHSM2_CONF."""
    env = {name: value for name, value in os.environ.items() if not _withheld(name)}
    env["SOFTHSM2_CONF"] = str(Path(conf_path).resolve())
    return env


def write_softhsm_config(token_dir: Path, conf_path: Path, *, reset_on_fork: bool = True) -> Path:
    """Write a softhsm2.conf keeping tokens in `token_dir` (created 0700); returns `conf_path`.

    ``library.reset_on_fork = true`` (the default here) makes SoftHSM2 discard its state in a
    forked child, so a child can never use a session or login inherited from its parent;
    `Pkcs11KeyProvider` re-initialises the module after a fork either way.
    """
    token_dir = Path(token_dir).resolve()
    token_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    conf_path = Path(conf_path)
    conf_path.parent.mkdir(parents=True, exist_ok=True)
    conf_path.write_text(
        "# written by hsm.softhsm.write_softhsm_config\n"
        f"directories.tokendir = {token_dir}\n"
        "objectstore.backend = file\n"
        "objectstore.umask = 0077\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
        f"library.reset_on_fork = {'true' if reset_on_fork else 'false'}\n",
        encoding="utf-8",
    )
    return conf_path


def _check_pin(pin: str, what: str) -> None:
    if not 4 <= len(pin) <= 255 or any(c in pin for c in "\r\n\x00"):
        raise ValueError(f"{what} must be 4-255 characters without line breaks")


def init_softhsm_token(conf_path: Path, label: str, so_pin: str, user_pin: str) -> None:
    """Initialise a free SoftHSM2 slot as token `label` with the given SO and user PINs.

    Raises `RuntimeError` (with softhsm2-util's output, PINs removed) if it fails, and
    `FileExistsError` if a token with this label already exists.
    """
    if not label or len(label.encode("utf-8")) > 32:
        raise ValueError("token label must be 1-32 bytes")
    _check_pin(so_pin, "SO PIN")
    _check_pin(user_pin, "user PIN")
    if token_exists(conf_path, label):
        raise FileExistsError(f"a SoftHSM2 token labelled {label!r} already exists")
    answers = [so_pin, so_pin, user_pin, user_pin]
    output = _run_with_prompts(
        [_softhsm_util(), "--init-token", "--free", "--label", label], _env(conf_path), answers
    )
    if output.returncode != 0 or answers:
        text = output.text
        for pin in (so_pin, user_pin):
            text = text.replace(pin, "<PIN>")
        raise RuntimeError(f"softhsm2-util could not initialise token {label!r}: {text.strip()}")


class _Output:
    def __init__(self, returncode: int, text: str) -> None:
        self.returncode = returncode
        self.text = text


def _run_with_prompts(argv: list[str], env: dict[str, str], answers: list[str]) -> _Output:
    """Run `argv` on a pseudo-terminal, answering each "PIN:" prompt with the next of `answers`
    (consumed from the list)."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=env,
            close_fds=True,
            start_new_session=True,
        )
    except BaseException:
        os.close(controller)
        os.close(terminal)
        raise
    os.close(terminal)
    buffer = b""
    answered_up_to = 0
    deadline = time.monotonic() + _TIMEOUT_SECONDS
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
            if not chunk:
                break
            buffer += chunk
            if re.search(rb"PIN:\s*$", buffer[answered_up_to:]):
                if not answers:  # asked again (e.g. the PINs did not match): give up now
                    process.kill()
                    process.wait()
                    return _Output(-1, buffer.decode("utf-8", "replace") + "\n(PIN asked again)")
                os.write(controller, answers.pop(0).encode("utf-8") + b"\n")
                answered_up_to = len(buffer)
        else:
            process.kill()
            raise RuntimeError("softhsm2-util did not finish in time")
        returncode = process.wait(timeout=_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return _Output(returncode, buffer.decode("utf-8", "replace"))


_LABEL_LINE = re.compile(r"^\s*Label:\s*(.*?)\s*$", re.MULTILINE)


def token_exists(conf_path: Path, label: str) -> bool:
    """True if the SoftHSM2 configuration at `conf_path` has an initialised token `label`."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [_softhsm_util(), "--show-slots"],
        env=_env(conf_path),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"softhsm2-util --show-slots failed: {result.stderr.strip()}")
    return label in _LABEL_LINE.findall(result.stdout)
