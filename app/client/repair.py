"""``python -m app.client repair apply|list``: a subject applies for credit repair (信用修复) of
one of their penalty records with evidence files, and reads their applications, the decisions,
and which records may be repaired from which day.

The record is named by its id as the report (or ``repair list``) shows it. The explanation is
given with ``--explanation`` or read from a file with ``--explanation-file`` (UTF-8); each
``--evidence FILE`` is sent with the type its name says (.pdf, .png, .jpg/.jpeg) — the service
judges every file by its contents and refuses one that is not what it says. Exit codes: 0 done;
1 refused or unreachable (one line: the reason).
"""

from __future__ import annotations

import argparse
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from app.client.common import Service, Stop, refused
from app.client.render import obj
from app.client.rights import _id, _print

#: the largest file the client reads to send (the service's own limit is smaller)
MAX_READ_BYTES = 32 * 1024 * 1024
REFUSALS = {
    "not_found": "None of your records has that id (see: python -m app.client repair list).",
    "not_eligible": "Credit repair does not apply to that kind of record.",
    "repair_open": "That record has an open repair application; wait for its decision.",
}


def _explanation(args: argparse.Namespace) -> str:
    if args.explanation_file is not None:
        try:
            return Path(args.explanation_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Stop(1, f"Cannot read {args.explanation_file}: {exc}.") from None
    if not args.explanation:
        raise Stop(1, "Say what you did to correct it with --explanation or --explanation-file.")
    return str(args.explanation)


def _evidence(paths: list[str]) -> list[tuple[str, str, str, bytes]]:
    files = []
    for name in paths:
        path = Path(name)
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            with path.open("rb") as handle:
                content = handle.read(MAX_READ_BYTES + 1)
        except OSError as exc:
            raise Stop(1, f"Cannot read {name}: {exc.strerror or exc}.") from None
        if len(content) > MAX_READ_BYTES:
            raise Stop(1, f"{name} is far larger than any evidence file accepted.")
        files.append(("evidence", path.name, media, content))
    return files


def application_line(item: Mapping[str, Any]) -> str:
    where = f"{item.get('title_zh') or item.get('record_type')} {item.get('record_id')}"
    status = item.get("status")
    if status == "approved":
        state = f"approved {item.get('decided_on')}: not shown from {item.get('hidden_from')}"
    elif status == "refused":
        state = f"refused {item.get('decided_on')}"
    else:
        state = "awaiting a decision"
    lines = [f"- {item.get('filed_on')} {where}: {state}"]
    if item.get("reason"):
        lines.append(f"    reason: {item.get('reason')}")
    return "\n".join(lines) + "\n"


def apply(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    fields = {"record_id": _id(args.record_id, "a record"), "explanation": _explanation(args)}
    reply = Service().post_form("/api/v1/self/repairs", fields, _evidence(args.evidence))
    if reply.status != 201:
        if reply.body.get("error") == "too_early":
            opens = reply.body.get("eligible_from")
            raise Stop(1, f"Too early: the minimum display period ends; apply from {opens}.")
        raise refused(reply, REFUSALS)
    item = obj(reply.body.get("application"))
    _print(args, out, reply.body, f"Applied: a registrar decides.\n{application_line(item)}")


def listing(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/repairs")
    if reply.status != 200:
        raise refused(reply, REFUSALS)
    items = reply.body.get("applications")
    text = "".join(application_line(obj(i)) for i in (items if isinstance(items, list) else []))
    records = reply.body.get("records")
    for record in records if isinstance(records, list) else []:
        found = obj(record)
        when = "now" if found.get("eligible_now") else f"from {found.get('eligible_from')}"
        text += (
            f"* {found.get('title_zh') or found.get('record_type')} {found.get('id')} "
            f"({found.get('occurred_on')}): may be repaired {when}\n"
        )
    _print(args, out, reply.body, text or "No application and no record to repair.\n")


def add_commands(commands: Any) -> None:
    repair = commands.add_parser("repair", help="credit repair of your penalty records (信用修复)")
    verbs = repair.add_subparsers(dest="verb", required=True)
    applied = verbs.add_parser("apply", help="apply with evidence to end a record's display")
    applied.add_argument("record_id", help="the record's id (see: repair list)")
    said = applied.add_mutually_exclusive_group()
    said.add_argument("--explanation", help="what you did to correct it")
    said.add_argument("--explanation-file", metavar="FILE", help="read the explanation from FILE")
    applied.add_argument(
        "--evidence", metavar="FILE", action="append", required=True, help="PDF, PNG or JPEG"
    )
    applied.add_argument("--json", action="store_true", help="print the raw JSON")
    applied.set_defaults(run=apply)
    mine = verbs.add_parser("list", help="your applications and the records you may repair")
    mine.add_argument("--json", action="store_true", help="print the raw JSON")
    mine.set_defaults(run=listing)
