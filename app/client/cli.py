"""``python -m app.client login|whoami|logout`` and the subject's commands.

The query commands live in `app.client.queries` (report, query-records, search, archive) and
the consent commands in `app.client.consent`; they share the saved session through
`app.client.common`.

``login`` checks that the card is present, asks the password and the card PIN without echo,
fetches a challenge (``POST /api/v1/auth/challenge``), signs its bytes on the card
(`hsm.card.CardToken.sign`: ECDSA P-256 over SHA-256 as raw r||s, or RSA PKCS#1 v1.5), posts
``POST /api/v1/auth/login`` and keeps the session cookie (`app.client.store`) for ``whoami`` and
``logout``.

Exit codes: 0 done; 1 refused or unreachable ("Login failed." for any refused login, the
server's message when throttled); 2 a card problem (wrong PIN, no card, empty or locked card),
one line naming the card, never the PIN, or an answer that needs a paid order. The PIN and
the password are never printed, logged or stored.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import os
import sys
from collections.abc import Callable
from typing import TextIO

from app.client import account, cards, consent, grade, queries, repair, rights, store
from app.client.common import Stop as _Stop
from app.client.common import saved as _saved
from app.client.common import session_facts as _session
from app.client.http import ServiceUnreachable, origin_of, request
from hsm.card import CardError, CardToken

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
LOGIN_FAILED = "Login failed."


def _b64url_decode(text: object) -> bytes:
    if not isinstance(text, str) or not text or len(text) > 8192:
        raise _Stop(1, "The server sent a malformed challenge.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _Stop(1, "The server sent a malformed challenge.") from None


def _refusal(status: int, body: dict[str, object]) -> _Stop:
    if status == 429:
        message = body.get("message")
        return _Stop(1, message if isinstance(message, str) else "Too many attempts; wait.")
    return _Stop(1, LOGIN_FAILED)


def login(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    try:
        origin = origin_of(args.url)
    except ValueError as exc:
        raise _Stop(1, str(exc)) from None
    card = CardToken(args.module, args.token_label)
    try:
        if not card.present():
            raise _Stop(2, f"No card labelled {args.token_label!r} is present.")
    except CardError as exc:
        raise _Stop(2, str(exc)) from None
    password = ask(f"Password for {args.username}: ")
    pin = ask(f"PIN for card {args.token_label}: ")
    challenge = request(origin, "POST", "/api/v1/auth/challenge", body={"username": args.username})
    if challenge.status != 200:
        raise _refusal(challenge.status, challenge.body)
    to_be_signed = _b64url_decode(challenge.body.get("to_be_signed"))
    challenge_id = challenge.body.get("challenge_id")
    if not isinstance(challenge_id, str):
        raise _Stop(1, "The server sent a malformed challenge.")
    try:
        signature = card.sign(pin, to_be_signed)
    except CardError as exc:
        raise _Stop(2, str(exc)) from None
    finally:
        del pin
    reply = request(
        origin,
        "POST",
        "/api/v1/auth/login",
        body={
            "challenge_id": challenge_id,
            "username": args.username,
            "password": password,
            "signature": base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii"),
        },
    )
    del password
    cookie = reply.cookies.get(store.COOKIE_NAME)
    if reply.status != 200 or not cookie:
        raise _refusal(reply.status, reply.body)
    store.save(store.SavedSession(origin=origin, cookie=cookie))
    methods = reply.body.get("methods")
    how = "+".join(methods) if isinstance(methods, list) else "card"
    out.write(f"Logged in as {reply.body.get('username', args.username)} ({how}).\n")


def whoami(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    body = _session(_saved())
    roles = body.get("roles") or []
    methods = body.get("methods") or []
    out.write(
        f"{body.get('username')} ({body.get('kind')})"
        f"{' roles: ' + ', '.join(map(str, roles)) if isinstance(roles, list) and roles else ''}"
        f" logged in with {'+'.join(map(str, methods)) if isinstance(methods, list) else '?'}\n"
    )


def logout(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    saved = _saved()
    csrf = _session(saved).get("csrf_token")
    request(
        saved.origin,
        "POST",
        "/api/v1/auth/logout",
        cookie=f"{store.COOKIE_NAME}={saved.cookie}",
        headers={"X-CSRF-Token": csrf if isinstance(csrf, str) else ""},
    )
    store.forget()
    out.write("Logged out.\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.client", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    log_in = commands.add_parser("login", help="log in with password and smart card")
    log_in.add_argument("--url", default=os.environ.get("CREDITGATE_URL", DEFAULT_URL))
    log_in.add_argument("--username", required=True)
    _card_options(log_in)
    log_in.set_defaults(run=login)
    commands.add_parser("whoami", help="show the saved session").set_defaults(run=whoami)
    commands.add_parser("logout", help="end the saved session").set_defaults(run=logout)
    queries.add_commands(commands)
    consent.add_commands(commands, _card_options)
    cards.add_commands(commands)
    rights.add_commands(commands)
    grade.add_commands(commands)
    repair.add_commands(commands)
    account.add_commands(commands)
    return parser


def _card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-label", required=True, help="the card's PKCS#11 token label")
    parser.add_argument(
        "--module",
        default=os.environ.get("CREDITGATE_CARD_MODULE", DEFAULT_MODULE),
        help="PKCS#11 module of the card reader (default: SoftHSM2)",
    )


def main(
    argv: list[str] | None = None,
    *,
    ask: Callable[[str], str] = getpass.getpass,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (0 done, 1 refused/unreachable, 2 card problem
    or payment needed)."""
    args = _parser().parse_args(argv)
    args.err = err or sys.stderr
    try:
        args.run(args, ask, out or sys.stdout)
    except _Stop as stop:
        (err or sys.stderr).write(f"{stop}\n")
        return stop.code
    except ServiceUnreachable as exc:
        (err or sys.stderr).write(f"{exc}\n")
        return 1
    except (KeyboardInterrupt, EOFError):
        (err or sys.stderr).write("Cancelled.\n")
        return 1
    return 0
