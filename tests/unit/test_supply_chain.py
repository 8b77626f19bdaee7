"""Dependencies are watched: every requirement is pinned with hashes (pip then checks them:
--require-hashes is implied), the .in files and the lock files agree, the SBOM describes exactly
what `make install` installs, and `make test` runs the vulnerability audit."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s\\;]+)")


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def _locked(path: Path) -> dict[str, str]:
    """name -> version of a pip-compile lock file, checking every entry carries hashes."""
    text = path.read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[1].strip())
    pins: dict[str, str] = {}
    for entry in entries:
        match = _PIN.match(entry)
        assert match, f"{path.name}: not an exact pin: {entry.splitlines()[0]}"
        assert "--hash=sha256:" in entry, f"{path.name}: {match.group(1)} has no hash"
        pins[_name(match.group(1))] = match.group(2)
    return pins


def _direct(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_name(match.group(1))] = match.group(2)
    return pins


def test_every_requirement_is_pinned_with_hashes_and_matches_its_in_file() -> None:
    for source, lock in (
        ("requirements.in", "requirements.txt"),
        ("requirements-dev.in", "requirements-dev.txt"),
    ):
        locked = _locked(ROOT / lock)
        for name, version in _direct(ROOT / source).items():
            assert locked.get(name) == version, f"{lock}: {name} is not {version}"
        text = (ROOT / lock).read_text(encoding="utf-8")
        assert "--extra-index-url" not in text  # no machine-local index in what is committed
        assert "--find-links" not in text


def test_the_dev_lock_holds_the_runtime_pins_unchanged() -> None:
    runtime, dev = _locked(ROOT / "requirements.txt"), _locked(ROOT / "requirements-dev.txt")
    for name, version in runtime.items():
        assert dev.get(name) == version, name


def test_the_sbom_lists_exactly_the_locked_runtime_dependencies() -> None:
    bom = json.loads((ROOT / "security" / "sbom.cdx.json").read_text(encoding="utf-8"))
    assert bom["bomFormat"] == "CycloneDX"
    listed = {_name(c["name"]): c["version"] for c in bom["components"]}
    assert listed == _locked(ROOT / "requirements.txt")
    assert all(c["purl"].startswith("pkg:pypi/") for c in bom["components"])


def test_make_test_runs_the_audit() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    [chain] = [
        line for line in makefile.splitlines() if line.startswith("\t@$(MAKE)") and "lint" in line
    ]
    assert "audit" in chain.split()
    assert "pip-audit" in makefile
    assert "-r requirements.txt" in makefile
