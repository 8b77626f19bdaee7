"""The rules of credit repair (信用修复, policies/data/repair.toml): which records may be
repaired, after how long, and what evidence is accepted.

Guarantees:
- `parse_repair` returns rules only if the whole file is valid (every key known and of its
  type, every figure positive, media types from the known set, each record type once), else one
  `RepairError` naming the file and the key, never a value; `check_catalog` refuses rules that
  do not fit the catalog: a type that is unknown, not negative, or not shown in a
  `display_window`; a minimum shorter than the catalog's own or longer than its maximum; or a
  window that could outlast the record's keeping (repair then never moves a record's expiry
  epoch, so nothing needs re-wrapping);
- `sniff` names a file's type from its bytes alone (head and tail), never from a name or a
  claimed type; `check_evidence` accepts a file only if its bytes are one of the allowed types,
  the type it was sent as (when one was claimed) is that same type, and it is no larger than
  the limit;
- `eligible_from` is the first day an application may be made: the anniversary of the
  decision day `min_display_months` later (Civil Code counting, `policies.retention`);
  `hidden_from` is the first day a repaired record is no longer shown:
  max(approval day, `eligible_from`) — never before the minimum display period.
Pure: no Flask, no database.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from types import MappingProxyType

from policies.catalog import Catalog
from policies.retention import add_months
from policies.toml_tables import StrictTable

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
#: the types whose bytes `sniff` recognises
KNOWN_TYPES = (PDF, PNG, JPEG)
#: how far from the end a PDF's end-of-file marker may be (trailing whitespace, a last newline)
_PDF_TAIL = 1024
_PNG_HEAD = b"\x89PNG\r\n\x1a\n"
_PNG_TAIL = b"IEND\xaeB`\x82"
_MAX_FILE_BYTES = 50 * 1024 * 1024
_MAX_FILES = 20


class RepairError(ValueError):
    """The repair file is invalid, or does not fit the catalog; the message names the key."""


class BadEvidence(ValueError):
    """An evidence file was refused; `code` is a snake_case reason, the message is safe to
    show (it names the file's position and types, never its contents or its name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Eligible:
    record_type: str
    min_display_months: int
    source: str

    def eligible_from(self, occurred_on: date) -> date:
        """The first day an application for a record decided on `occurred_on` is accepted."""
        return add_months(occurred_on, self.min_display_months)

    def hidden_from(self, *, approved_on: date, occurred_on: date) -> date:
        """The first day a record approved for repair on `approved_on` is no longer shown."""
        return max(approved_on, self.eligible_from(occurred_on))


@dataclass(frozen=True, slots=True)
class RepairRules:
    explanation_max: int
    reason_max: int
    media_types: tuple[str, ...]
    max_file_bytes: int
    max_files: int
    eligible: Mapping[str, Eligible]

    def rule_for(self, record_type: str) -> Eligible | None:
        return self.eligible.get(record_type)

    def check_evidence(self, position: int, claimed: str | None, content: bytes) -> str:
        """The media type of evidence file number `position` (from 1), or `BadEvidence`."""
        if len(content) > self.max_file_bytes:
            raise BadEvidence(
                "evidence_too_large",
                f"Evidence file {position} is larger than {self.max_file_bytes} bytes.",
            )
        found = sniff(content)
        allowed = ", ".join(self.media_types)
        if found is None or found not in self.media_types:
            raise BadEvidence(
                "evidence_type",
                f"Evidence file {position} is not one of: {allowed} (judged by its contents).",
            )
        said = (claimed or "").split(";", 1)[0].strip().lower()
        if said not in ("", "application/octet-stream") and said != found:
            raise BadEvidence(
                "evidence_mismatch",
                f"Evidence file {position} was sent as {said[:40]} but its contents are "
                f"{found}: send it as what it is.",
            )
        return found


def sniff(content: bytes) -> str | None:
    """The type of `content` by its bytes (PDF, PNG or JPEG, whole: head and tail), or None."""
    if content.startswith(b"%PDF-") and b"%%EOF" in content[-_PDF_TAIL:]:
        return PDF
    if content.startswith(_PNG_HEAD) and content.rstrip(b"\x00").endswith(_PNG_TAIL):
        return PNG
    if content.startswith(b"\xff\xd8\xff") and content.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return JPEG
    return None


def parse_repair(text: str, *, source: str) -> RepairRules:
    def error(problem: str) -> RepairError:
        return RepairError(f"{source}: {problem}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})") from None
    top = StrictTable(doc, allowed=("schema", "application", "evidence", "eligible"), error=error)
    if top.integer("schema") != 1:
        raise error("only schema 1 is understood")

    def section(name: str, keys: tuple[str, ...]) -> StrictTable:
        return StrictTable(top.raw(name), allowed=keys, error=lambda p: error(f"[{name}]: {p}"))

    application = section("application", ("explanation_max_chars", "reason_max_chars"))
    evidence = section("evidence", ("media_types", "max_file_bytes", "max_files"))
    figures = {
        "explanation_max_chars": application.integer("explanation_max_chars"),
        "reason_max_chars": application.integer("reason_max_chars"),
        "max_file_bytes": evidence.integer("max_file_bytes"),
        "max_files": evidence.integer("max_files"),
    }
    for key, value in figures.items():
        if value < 1:
            raise error(f"{key!r} must be a positive integer")
    if figures["max_file_bytes"] > _MAX_FILE_BYTES or figures["max_files"] > _MAX_FILES:
        raise error(f"at most {_MAX_FILES} files of {_MAX_FILE_BYTES} bytes each")
    media = evidence.texts("media_types")
    if not media or len(set(media)) != len(media) or not set(media) <= set(KNOWN_TYPES):
        raise error(f"[evidence]: 'media_types' are distinct, from {', '.join(KNOWN_TYPES)}")
    eligible: dict[str, Eligible] = {}
    for index, raw in enumerate(top.array_of_tables("eligible")):
        where = f"[[eligible]] #{index + 1}"

        def entry_error(problem: str, where: str = where) -> RepairError:
            return error(f"{where}: {problem}")

        table = StrictTable(
            raw, allowed=("record_type", "min_display_months", "source"), error=entry_error
        )
        code = table.text("record_type")
        months = table.integer("min_display_months")
        if months < 1:
            raise error(f"{where}: 'min_display_months' must be a positive integer")
        if code in eligible:
            raise error(f"{where}: record type {code!r} is listed twice")
        eligible[code] = Eligible(code, months, table.text("source"))
    if not eligible:
        raise error("no [[eligible]] record type")
    return RepairRules(
        explanation_max=figures["explanation_max_chars"],
        reason_max=figures["reason_max_chars"],
        media_types=media,
        max_file_bytes=figures["max_file_bytes"],
        max_files=figures["max_files"],
        eligible=MappingProxyType(eligible),
    )


def check_catalog(rules: RepairRules, catalog: Catalog) -> RepairRules:
    """`rules` if every eligible record type fits the catalog (module guarantees), else
    `RepairError` naming the type."""
    for code, eligible in rules.eligible.items():
        spec = catalog.get(code)

        def error(problem: str, code: str = code) -> RepairError:
            return RepairError(f"policies/data/repair.toml: {code!r} {problem}")

        if spec is None:
            raise error("is not a record type of the catalog")
        rule = spec.retention
        if not spec.negative or rule.kind != "display_window":
            raise error("is not negative information shown in a display window")
        assert rule.min_months is not None
        assert rule.max_months is not None
        if not rule.min_months <= eligible.min_display_months <= rule.max_months:
            raise error(
                f"min_display_months must lie within the catalog's window "
                f"({rule.min_months} to {rule.max_months} months)"
            )
        kept = rule.destroy_years_after_end
        if kept is None or rule.max_months > 12 * kept:
            raise error("is kept no longer than shown: repair would move its expiry epoch")
    return rules


@functools.cache
def default_repair() -> RepairRules:
    """The packaged rules (read once per process; checked against the catalog when wired)."""
    path = resources.files("policies") / "data" / "repair.toml"
    return parse_repair(path.read_text(encoding="utf-8"), source="policies/data/repair.toml")
