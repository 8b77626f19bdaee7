"""Demo subjects with smart cards for `make run`: accounts, card tokens, keys and certificates.

`ensure_demo_cards` is idempotent and never recreates anything:

- if `var/demo-credentials.txt` exists it is returned as it is and nothing is created;
- otherwise a plan (usernames, random passwords, card labels, random user and SO PINs) is
  written first to `var/demo-credentials.pending.json` (0600), then accounts, card tokens and
  cards are made from it; an interrupted run resumes from the same plan, so passwords and PINs
  always match what was created. The credentials file (0600) is written last and the plan
  removed;
- a fresh plan refuses to touch demo accounts or card tokens that already exist (their
  passwords and PINs are unknown): it names them and asks for a clean `var/`.

Demo accounts are subject accounts linked to existing demo subjects (`flask demo seed` first),
with argon2id password hashes. The PKCS#11 work (tokens, keys, certificates) is done by a
`CardWorkshop` that the CLI provides: this package never imports `hsm`.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from app.container import Container
from app.models import Account, AccountKind, Subject

CREDENTIALS_FILE = "demo-credentials.txt"
PLAN_FILE = "demo-credentials.pending.json"
USERNAME = "demo-subject-{n}"
TOKEN_LABEL = "creditgate-card-{n}"  # noqa: S105 - a token label, not a secret


class DemoCardsError(Exception):
    """The demo cards cannot be made (message says why and what to do)."""


@dataclass(frozen=True)
class DemoCard:
    username: str
    password: str = field(repr=False)
    token_label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)


class CardWorkshop(Protocol):
    """The PKCS#11 side of the demo, implemented by `app.cli.cards`."""

    def token_exists(self, label: str) -> bool:
        """True if a card token with this label exists."""
        ...

    def create_token(self, label: str, so_pin: str, user_pin: str) -> None:
        """Initialise a new card token (never called for an existing label)."""
        ...

    def ensure_card(self, username: str, label: str, pin: str) -> None:
        """Give the account an enrolled card on this token, resuming any half-done issuance."""
        ...


def _new_plan(count: int) -> list[DemoCard]:
    return [
        DemoCard(
            username=USERNAME.format(n=n),
            password=secrets.token_urlsafe(15),
            token_label=TOKEN_LABEL.format(n=n),
            pin=f"{secrets.randbelow(10**8):08d}",
            so_pin=secrets.token_hex(16),
        )
        for n in range(1, count + 1)
    ]


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (mode 0600) atomically: a reader sees the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _existing(parts: Container, plan: list[DemoCard], workshop: CardWorkshop) -> list[str]:
    usernames = [card.username for card in plan]
    with parts.unit() as db:
        taken = list(db.scalars(select(Account.username).where(Account.username.in_(usernames))))
    return taken + [card.token_label for card in plan if workshop.token_exists(card.token_label)]


def _ensure_accounts(parts: Container, plan: list[DemoCard]) -> None:
    with parts.unit() as db:
        present = set(
            db.scalars(
                select(Account.username).where(Account.username.in_([c.username for c in plan]))
            )
        )
        missing = [card for card in plan if card.username not in present]
        if not missing:
            return
        linked = select(Account.subject_id).where(Account.subject_id.is_not(None))
        subjects = list(
            db.scalars(
                select(Subject.id)
                .where(Subject.id.not_in(linked))
                .order_by(Subject.id)
                .limit(len(missing))
            )
        )
        if len(subjects) < len(missing):
            raise DemoCardsError(
                f"{len(missing)} demo subject(s) needed but only {len(subjects)} without an "
                "account exist: run `flask demo seed` first"
            )
        for card, subject_id in zip(missing, subjects, strict=True):
            db.add(
                Account(
                    username=card.username,
                    kind=AccountKind.SUBJECT.value,
                    status="active",
                    subject_id=subject_id,
                    password_hash=parts.passwords.hash(card.password),
                )
            )


def render(plan: list[DemoCard], conf_hint: str) -> str:
    """The credentials file: one line per demo subject, columns separated by spaces."""
    width = max(len(card.username) for card in plan) + 2
    lines = [
        "# CreditGate demo logins: development only. Keep this file private (mode 0600).",
        f"# Cards are SoftHSM2 tokens: export SOFTHSM2_CONF={conf_hint}",
        "# Log in: .venv/bin/python -m app.client login --url http://127.0.0.1:8080 "
        "--username USERNAME --token-label CARD",
        f"{'username':<{width}}{'password':<22}{'card':<20}card PIN",
    ]
    lines += [f"{c.username:<{width}}{c.password:<22}{c.token_label:<20}{c.pin}" for c in plan]
    return "\n".join(lines) + "\n"


def ensure_demo_cards(
    parts: Container, count: int, workshop: CardWorkshop, *, conf_hint: str
) -> tuple[str, bool]:
    """Make `count` demo subjects with cards (see the module guarantees).

    Returns the credentials text and whether anything was created in this call. An
    interrupted run is resumed with its own plan (and count), whatever `count` says now.
    """
    if not 1 <= count <= 50:
        raise DemoCardsError("between 1 and 50 demo cards")
    var_dir = parts.settings.var_dir
    final, pending = var_dir / CREDENTIALS_FILE, var_dir / PLAN_FILE
    if final.exists():
        return final.read_text(encoding="utf-8"), False
    if pending.exists():
        plan = [DemoCard(**entry) for entry in json.loads(pending.read_text(encoding="utf-8"))]
    else:
        plan = _new_plan(count)
        clashes = _existing(parts, plan, workshop)
        if clashes:
            raise DemoCardsError(
                f"{', '.join(clashes)} already exist(s) but {final} is gone, so their "
                "passwords and PINs are unknown: start from a clean var/ (make clean)"
            )
        _write_private(pending, json.dumps([asdict(card) for card in plan]))
    _ensure_accounts(parts, plan)
    for card in plan:
        if not workshop.token_exists(card.token_label):
            workshop.create_token(card.token_label, card.so_pin, card.pin)
    for card in plan:
        workshop.ensure_card(card.username, card.token_label, card.pin)
    text = render(plan, conf_hint)
    _write_private(final, text)
    pending.unlink()
    return text, True
