"""`flask cards issue|revoke|list|ca-cert|demo`: smart cards for subjects and staff.

Guarantees:
- the card's user PIN is read from the file named by CREDITGATE_CARD_PIN_FILE or from a hidden
  prompt, never from the command line, and is never printed or logged;
- `issue` checks the account before it touches the card, generates the key on the card (it
  never leaves it), has the card CA in the service HSM certify it, stores the certificate on
  the card and then enrols it; a card that already holds a key is refused, never overwritten;
- `revoke` takes effect at once: the card is refused at every later login and every session
  of its account ends in the same transaction;
- issuing and revoking a card are query-log entries (`operator:card:issue|revoke`, naming a
  subject's card by the subject's blind index), a revocation of an unknown card too;
- `demo` (development only) creates demo subjects with cards once and afterwards only prints
  their credentials (see `app.demo.cards`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.container import Container, container
from app.demo.cards import DemoCardsError, ensure_demo_cards
from app.models import Account, Card, Subject
from app.models.base import utcnow
from app.services.auth.cards import (
    DEFAULT_CARD_DAYS,
    REVOCATION_REASONS,
    CardNotFound,
    CertificateRejected,
    EnrolmentError,
    UnsupportedKey,
    ca_certificate,
    cards_for_account,
    enrol,
    issue_certificate,
    new_card_key_types,
    revoke,
)
from app.services.querylog.host import HostAction, code
from app.settings import Mode, Settings
from crypto.keys import HsmError
from hsm.card import KEY_TYPES, CardError, CardToken
from hsm.softhsm import init_softhsm_token, token_exists
from policies.actions import Action

group = click.Group("cards", help="Smart cards: issue, revoke, list, CA certificate, demo cards.")

PIN_FILE_ENV = "CREDITGATE_CARD_PIN_FILE"
_THUMBPRINT = re.compile(r"^[0-9a-fA-F]{64}$")


def read_card_pin() -> str:
    """The card's user PIN: from the file named by CREDITGATE_CARD_PIN_FILE, else a hidden
    prompt. Errors name the file, never its content."""
    path = os.environ.get(PIN_FILE_ENV)
    if not path:
        pin: str = click.prompt("Card user PIN", hide_input=True)
        return pin
    try:
        pin = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.ClickException(
            f"cannot read the card PIN file {path}: {exc.strerror}"
        ) from None
    if not pin:
        raise click.ClickException(f"the card PIN file {path} is empty")
    return pin


def card_token(settings: Settings, module_path: str, label: str) -> CardToken:
    """The card, through the service's own loaded module if it is the same library."""
    same = os.path.realpath(module_path) == os.path.realpath(settings.pkcs11_module)
    return CardToken(
        settings.pkcs11_module if same else module_path,
        label,
        softhsm_conf=settings.softhsm_conf if same else None,
        init_lock_path=settings.hsm_lock_path,
    )


def _holder(parts: Container, username: str) -> Account:
    with parts.unit() as db:
        account = db.scalars(select(Account).where(Account.username == username)).one_or_none()
    if account is None:
        raise click.ClickException(f"no account named {username!r}")
    if account.kind not in ("subject", "staff") or account.status != "active":
        raise click.ClickException(f"account {username!r} cannot hold a card")
    return account


def _subject_bidx(db: Session, account: Account) -> bytes | None:
    if account.subject_id is None:
        return None
    bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == account.subject_id))
    return None if bidx is None else bytes(bidx)


def _enrol(parts: Container, username: str, der: bytes) -> dict[str, str]:
    with parts.unit() as db:
        account = db.scalars(select(Account).where(Account.username == username)).one()
        card = enrol(db, account, der, provider=parts.key_provider)
        HostAction(parts, Action.OPERATOR_CARD_ISSUE).done(
            db, "issued", subject_bidx=_subject_bidx(db, account)
        )
        return {
            "thumbprint": card.thumbprint,
            "serial": card.serial,
            "key type": card.key_type,
            "valid": f"{card.not_before:%Y-%m-%d %H:%M} to {card.not_after:%Y-%m-%d %H:%M} UTC",
        }


def issue_card(
    parts: Container,
    username: str,
    card: CardToken,
    pin: str,
    *,
    key_type: str = "ec-p256",
    days: int = DEFAULT_CARD_DAYS,
    public_key_der: bytes | None = None,
) -> dict[str, str]:
    """Key on the card (or the given one already there), certificate, store, enrol."""
    if public_key_der is None and key_type not in new_card_key_types(utcnow()):
        raise UnsupportedKey(f"new cards carry ECDSA P-256 keys, not {key_type}")
    spki = public_key_der if public_key_der is not None else card.generate_key(pin, key_type)
    der = issue_certificate(parts.key_provider, username, spki, days=days)
    card.store_certificate(pin, der)
    return _enrol(parts, username, der)


@group.command("issue")
@click.option("--account", "username", required=True, help="Username of the card holder.")
@click.option(
    "--module",
    "module_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PKCS#11 module of the card reader middleware.",
)
@click.option("--token-label", required=True, help="Token label of the blank card.")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True)
@click.option("--days", type=click.IntRange(1, 3660), default=DEFAULT_CARD_DAYS, show_default=True)
@with_appcontext
def issue(username: str, module_path: str, token_label: str, key_type: str, days: int) -> None:
    """Generate a key on a blank card, certify it and enrol it for ACCOUNT."""
    parts = container()
    _holder(parts, username)
    card = card_token(parts.settings, module_path, token_label)
    pin = read_card_pin()
    try:
        facts = issue_card(parts, username, card, pin, key_type=key_type, days=days)
    except (CardError, EnrolmentError, CertificateRejected, HsmError, UnsupportedKey) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"issued card {token_label!r} to {username!r}")
    for name, value in facts.items():
        click.echo(f"  {name:<11} {value}")


@group.command("revoke")
@click.option("--thumbprint", required=True, help="SHA-256 thumbprint of the card certificate.")
@click.option(
    "--reason", type=click.Choice(REVOCATION_REASONS), default="holder_request", show_default=True
)
@with_appcontext
def revoke_command(thumbprint: str, reason: str) -> None:
    """Revoke a card: refused at the next login, its live sessions end now."""
    if not _THUMBPRINT.match(thumbprint):
        raise click.ClickException("a thumbprint is 64 hexadecimal characters")
    logged = HostAction(container(), Action.OPERATOR_CARD_REVOKE)
    try:
        with container().unit() as db:
            done = revoke(db, thumbprint, reason)
            holder = db.scalars(
                select(Account)
                .join(Card, Card.account_id == Account.id)
                .where(Card.thumbprint == thumbprint.lower())
            ).first()
            bidx = None if holder is None else _subject_bidx(db, holder)
            logged.done(db, code("revoked_" + reason), subject_bidx=bidx)
    except CardNotFound:
        logged.refused("not_found")
        raise click.ClickException("no enrolled card has that thumbprint") from None
    state = "revoked" if done.newly_revoked else "was already revoked"
    click.echo(
        f"card {thumbprint.lower()} {state}; {done.sessions_ended} live session(s) ended; "
        "every later login with it is refused"
    )


@group.command("list")
@click.option("--account", "username", required=True)
@with_appcontext
def list_command(username: str) -> None:
    """List the cards enrolled for ACCOUNT (revoked ones included)."""
    with container().unit() as db:
        account = db.scalars(select(Account).where(Account.username == username)).one_or_none()
        if account is None:
            raise click.ClickException(f"no account named {username!r}")
        cards = cards_for_account(db, account.id)
    if not cards:
        click.echo(f"{username!r} has no card")
    for card in cards:
        revoked = f" {card.revoked_at:%Y-%m-%d %H:%M}" if card.revoked_at else ""
        click.echo(
            f"{card.thumbprint}  {card.key_type:<8}  {card.status}{revoked}  serial {card.serial}"
            f"  valid to {card.not_after:%Y-%m-%d}"
        )


@group.command("ca-cert")
@with_appcontext
def ca_cert() -> None:
    """Print the card CA certificate (PEM), e.g. for nginx `ssl_client_certificate`."""
    der = ca_certificate(container().key_provider)
    click.echo(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode(), nl=False)


class _Workshop:
    """`app.demo.cards.CardWorkshop` on the development SoftHSM2 token directory."""

    def __init__(self, parts: Container) -> None:
        conf = parts.settings.softhsm_conf
        if conf is None or not conf.exists():
            raise click.ClickException("no SoftHSM2 configuration: run `flask hsm init` first")
        self.parts = parts
        self.conf = conf

    def token_exists(self, label: str) -> bool:
        return token_exists(self.conf, label)

    def create_token(self, label: str, so_pin: str, user_pin: str) -> None:
        init_softhsm_token(self.conf, label, so_pin, user_pin)

    def ensure_card(self, username: str, label: str, pin: str) -> None:
        card = card_token(self.parts.settings, self.parts.settings.pkcs11_module, label)
        state = card.state(pin)
        with self.parts.unit() as db:
            account = db.scalars(select(Account).where(Account.username == username)).one()
            if any(c.status == "active" for c in cards_for_account(db, account.id)):
                return
        if state.certificate_der is not None:
            try:
                _enrol(self.parts, username, state.certificate_der)
                return
            except (CertificateRejected, EnrolmentError):
                pass  # not ours or not for this user: certify the card key afresh
        issue_card(self.parts, username, card, pin, public_key_der=state.public_key_der)


@group.command("demo")
@click.option("--count", type=click.IntRange(1, 50), default=3, show_default=True)
@with_appcontext
def demo(count: int) -> None:
    """Create COUNT demo subjects with cards once (development); print their credentials."""
    parts = container()
    if parts.settings.mode is Mode.PRODUCTION:
        raise click.ClickException("demo cards exist only in development")
    conf = parts.settings.softhsm_conf
    if conf is None:
        raise click.ClickException("no SoftHSM2 configuration: demo cards need SoftHSM2")
    hint = os.path.relpath(conf) if conf.resolve().is_relative_to(Path.cwd()) else str(conf)
    try:
        text, created = ensure_demo_cards(parts, count, _Workshop(parts), conf_hint=hint)
    except (DemoCardsError, CardError, HsmError) as exc:
        raise click.ClickException(str(exc)) from None
    path = parts.settings.var_dir / "demo-credentials.txt"
    click.echo(f"{'created' if created else 'existing'} demo logins ({path}):")
    click.echo(text, nl=False)
