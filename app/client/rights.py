"""``python -m app.client objection file|list``, ``statement add|list|withdraw`` and ``inbox``:
a subject objects to one of their records or attaches a statement to it, and reads what
happened about them (objection answers, prior notices, list removals, consent uses).

The record is named by its id as the report shows it (``python -m app.client report --json``).
The text is given with ``--text`` or read from a file with ``--text-file`` (UTF-8); the service
refuses one over its limit (objections 1000 characters, statements 500) and says so. Exit
codes: 0 done; 1 refused or unreachable (one line: the reason).
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from app.client.common import Service, Stop, refused
from app.client.render import obj

REFUSALS = {
    "not_found": "None of your records has that id (see: python -m app.client report --json).",
    "objection_open": "That record is under an open objection already; wait for its answer.",
    "statement_exists": "That record has a statement of yours already; withdraw it first.",
}


def _id(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise Stop(1, f"That is not {what} id.") from None


def _text(args: argparse.Namespace) -> str:
    if args.text_file is not None:
        try:
            return Path(args.text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Stop(1, f"Cannot read {args.text_file}: {exc}.") from None
    if not args.text:
        raise Stop(1, "Say it with --text or --text-file.")
    return str(args.text)


def _print(args: argparse.Namespace, out: TextIO, body: Mapping[str, Any], text: str) -> None:
    out.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n" if args.json else text)


def objection_line(item: Mapping[str, Any]) -> str:
    where = f"{item.get('title_zh') or item.get('record_type')} {item.get('record_id')}"
    if item.get("under_objection"):
        state = f"under objection ({item.get('stage')}), answer due {item.get('due_on') or '-'}"
        if item.get("overdue"):
            state += " - OVERDUE"
    else:
        state = f"answered {item.get('resolved_on')}: {item.get('outcome')}"
    lines = [f"- {item.get('filed_on')} {where}: {state}", f"    you wrote: {item.get('text')}"]
    if item.get("reason"):
        lines.append(f"    reason: {item.get('reason')}")
    return "\n".join(lines) + "\n"


def statement_line(item: Mapping[str, Any]) -> str:
    where = f"{item.get('title_zh') or item.get('record_type')} {item.get('record_id')}"
    state = "shown" if item.get("status") == "active" else f"withdrawn {item.get('withdrawn_on')}"
    return f"- {item.get('id')} {item.get('made_on')} {where} ({state})\n    {item.get('text')}\n"


def file_objection(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    sent = {"record_id": _id(args.record_id, "a record"), "text": _text(args)}
    reply = Service().post("/api/v1/self/objections", sent)
    if reply.status != 201:
        raise refused(reply, REFUSALS)
    item = obj(reply.body.get("objection"))
    _print(
        args,
        out,
        reply.body,
        f"Objection filed: the record is under objection.\n{objection_line(item)}",
    )


def list_objections(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/objections")
    if reply.status != 200:
        raise refused(reply, REFUSALS)
    items = reply.body.get("objections")
    lines = "".join(objection_line(obj(i)) for i in (items if isinstance(items, list) else []))
    _print(args, out, reply.body, lines or "You have filed no objection.\n")


def add_statement(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    sent = {"record_id": _id(args.record_id, "a record"), "text": _text(args)}
    reply = Service().post("/api/v1/self/statements", sent)
    if reply.status != 201:
        raise refused(reply, REFUSALS)
    item = obj(reply.body.get("statement"))
    _print(args, out, reply.body, f"Statement made: shown with the record.\n{statement_line(item)}")


def list_statements(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/statements")
    if reply.status != 200:
        raise refused(reply, REFUSALS)
    items = reply.body.get("statements")
    lines = "".join(statement_line(obj(i)) for i in (items if isinstance(items, list) else []))
    _print(args, out, reply.body, lines or "You have made no statement.\n")


def withdraw_statement(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    statement_id = _id(args.statement_id, "a statement")
    reply = Service().post(f"/api/v1/self/statements/{statement_id}/withdraw")
    if reply.status != 200:
        raise refused(reply, {"not_found": "You have no statement with that id."})
    _print(args, out, reply.body, "Statement withdrawn: it is shown nowhere now.\n")


def inbox(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/inbox")
    if reply.status != 200:
        raise refused(reply)
    items = reply.body.get("messages")
    lines = "".join(
        f"- {str(obj(m).get('at', ''))[:10]} [{obj(m).get('kind')}] {obj(m).get('text')}\n"
        for m in (items if isinstance(items, list) else [])
    )
    _print(args, out, reply.body, lines or "Your inbox is empty.\n")


def add_commands(commands: Any) -> None:
    def text_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("record_id", help="the record's id as your report shows it")
        given = parser.add_mutually_exclusive_group()
        given.add_argument("--text", help="what you say")
        given.add_argument("--text-file", metavar="FILE", help="read what you say from FILE")

    def json_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the raw JSON")

    objection = commands.add_parser("objection", help="object to one of your records (异议)")
    verbs = objection.add_subparsers(dest="verb", required=True)
    filed = verbs.add_parser("file", help="object to a record: say what is wrong")
    text_options(filed)
    json_option(filed)
    filed.set_defaults(run=file_objection)
    mine = verbs.add_parser("list", help="your objections and their answers")
    json_option(mine)
    mine.set_defaults(run=list_objections)
    statement = commands.add_parser("statement", help="your statements on records (个人声明)")
    verbs = statement.add_subparsers(dest="verb", required=True)
    made = verbs.add_parser("add", help="attach a statement to a record")
    text_options(made)
    json_option(made)
    made.set_defaults(run=add_statement)
    listed = verbs.add_parser("list", help="your statements")
    json_option(listed)
    listed.set_defaults(run=list_statements)
    gone = verbs.add_parser("withdraw", help="withdraw a statement")
    gone.add_argument("statement_id")
    json_option(gone)
    gone.set_defaults(run=withdraw_statement)
    box = commands.add_parser(
        "inbox", help="objection answers, notices, list removals, consent uses"
    )
    json_option(box)
    box.set_defaults(run=inbox)
