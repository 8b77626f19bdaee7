"""``python -m app.client sessions``, ``end-session HANDLE`` and ``password``: a person's own
sessions and password, with the saved session.

``sessions`` lists where the account is logged in (handle, start, last activity, methods; the
current one marked). ``end-session`` ends one of them after asking for the password again
(without echo). ``password`` asks the current password and the new one twice (without echo,
never printed); on success every other session of the account has ended and the client keeps
the new session the service handed back. Exit codes: 0 done, 1 refused or unreachable.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO

from app.client import store
from app.client.common import Service, Stop, refused


def sessions(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/auth/sessions")
    if reply.status != 200:
        raise refused(reply)
    if args.json:
        out.write(json.dumps(reply.body, ensure_ascii=False, indent=2) + "\n")
        return
    listed: list[dict[str, Any]] = reply.body.get("sessions") or []
    for item in listed:
        mark = "  (this session)" if item.get("current") else ""
        out.write(
            f"{item.get('handle')}  since {item.get('started_at')}  "
            f"last {item.get('last_seen_at')}  {'+'.join(item.get('methods') or [])}{mark}\n"
        )
    out.write(f"{len(listed)} live session(s); at most 5 at once.\n")


def end_session(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    service = Service()
    password = ask("Your password: ")
    reply = service.post(f"/api/v1/auth/sessions/{args.handle}/end", {"password": password})
    if reply.status != 200:
        raise refused(reply, {"login_failed": "The password was not accepted."})
    out.write(f"Ended session {args.handle}.\n")


def change_password(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    service = Service()
    current = ask("Current password: ")
    new = ask("New password (at least 12 characters): ")
    if ask("New password again: ") != new:
        raise Stop(1, "The two new passwords differ; nothing was changed.")
    reply = service.post(
        "/api/v1/auth/password", {"current_password": current, "new_password": new}
    )
    if reply.status == 400 and isinstance(reply.body.get("reasons"), list):
        raise Stop(1, "Refused: " + " ".join(map(str, reply.body["reasons"])))
    if reply.status != 200:
        raise refused(reply, {"login_failed": "The current password was not accepted."})
    cookie = reply.cookies.get(store.COOKIE_NAME)
    if cookie:
        store.save(store.SavedSession(origin=service.session.origin, cookie=cookie))
        out.write("Password changed; every other session of your account has ended.\n")
    else:
        store.forget()
        out.write("Password changed; every session has ended. Log in again.\n")


def add_commands(commands: Any) -> None:
    listing = commands.add_parser("sessions", help="list where your account is logged in")
    listing.add_argument("--json", action="store_true", help="print the service's JSON")
    listing.set_defaults(run=sessions)
    ending = commands.add_parser("end-session", help="end one of your sessions")
    ending.add_argument("handle", help="the session's handle, from `sessions`")
    ending.set_defaults(run=end_session)
    commands.add_parser("password", help="change your password").set_defaults(run=change_password)
