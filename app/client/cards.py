"""``python -m app.client card report-lost`` and ``notices``: the subject's card and the prior
notices of negative records about them.

``notices`` lists, with the saved session, what each provider says it told the subject before
furnishing a negative record (Art. 15): the record type, the provider, the day and the channel,
and whether the record is still shown; ``--json`` prints the service's JSON.

The card is what is missing, so the command needs only the username and the password (asked
without echo, never printed). On success every active card of the account is revoked and every
session of the account ends at once; the subject then asks a registrar for a new card.
Exit codes: 0 done, 1 refused (one line: "Login failed." for a wrong username or password) or
unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any, TextIO

from app.client.common import Service, Stop, refused
from app.client.http import origin_of, request

DEFAULT_URL = "http://127.0.0.1:8080"


def report_lost(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    try:
        origin = origin_of(args.url)
    except ValueError as exc:
        raise Stop(1, str(exc)) from None
    password = ask(f"Password for {args.username}: ")
    reply = request(
        origin,
        "POST",
        "/api/v1/self/cards/report-lost",
        body={"username": args.username, "password": password},
    )
    del password
    if reply.status == 429:
        message = reply.body.get("message")
        raise Stop(1, message if isinstance(message, str) else "Too many attempts; wait.")
    if reply.status != 200:
        raise Stop(1, "Login failed.")
    out.write(
        f"Reported lost: {reply.body.get('cards_revoked', 0)} card(s) revoked, "
        f"{reply.body.get('sessions_ended', 0)} session(s) ended. "
        "Ask a registrar for a new card.\n"
    )


def notices(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/notices")
    if reply.status != 200:
        raise refused(reply)
    items = reply.body.get("notices")
    items = items if isinstance(items, list) else []
    if args.json:
        out.write(json.dumps({"notices": items}, ensure_ascii=False, indent=2) + "\n")
        return
    if not items:
        out.write("No notice of a negative record about you is on file.\n")
        return
    out.write("事先告知 · Prior notices of negative records\n")
    for item in items:
        out.write(
            f"  {item.get('notified_on')}  by {item.get('channel')}  "
            f"{item.get('title_zh')} · {item.get('title')}  from {item.get('provider')}  "
            f"(received {item.get('received_on') or '-'}; {item.get('record')})\n"
        )


def add_commands(commands: Any) -> None:
    card = commands.add_parser("card", help="your smart card")
    actions = card.add_subparsers(dest="card_command", required=True)
    lost = actions.add_parser("report-lost", help="revoke your cards at once (password only)")
    lost.add_argument("--url", default=os.environ.get("CREDITGATE_URL", DEFAULT_URL))
    lost.add_argument("--username", required=True)
    lost.set_defaults(run=report_lost)
    listing = commands.add_parser("notices", help="prior notices of negative records about you")
    listing.add_argument("--json", action="store_true", help="print the service's JSON")
    listing.set_defaults(run=notices)
