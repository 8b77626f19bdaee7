"""`flask subjects enrol|issue-card|replace-card`: a registrar's counter work at the command line.

The registrar names themselves (`--registrar`, an active staff account holding the `registrar`
role): every step is a query-log entry under that account. The ID number and name are asked
at a prompt (never arguments, which land in shell history and process lists); the subject's
initial password comes from a hidden prompt (typed twice) or the file named by
`CREDITGATE_NEW_PASSWORD_FILE`; the card's PIN from a hidden prompt or
`CREDITGATE_CARD_PIN_FILE`. None of them is printed or logged.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.cli.accounts import _new_password
from app.cli.cards import card_token, read_card_pin
from app.container import Container, container
from app.models import Account, AccountRole, Role
from app.models.base import utcnow
from app.services.auth.cards import DEFAULT_CARD_DAYS, new_card_key_types
from app.services.enrolment.registrar import REPLACEMENT_REASONS, IssuedCard, RegistrarService
from app.services.enrolment.steps import Actor
from app.services.querylog.log import new_request_id
from crypto.keys import HsmError
from hsm.card import KEY_TYPES, CardError

group = click.Group("subjects", help="Registrars: enrol subjects, issue and replace their cards.")

REGISTRAR = click.option(
    "--registrar", required=True, help="Your staff username (holder of the registrar role)."
)
MODULE = click.option(
    "--module",
    "module_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PKCS#11 module of the card reader middleware.",
)


def _registrar(parts: Container, username: str) -> Actor:
    with parts.unit() as db:
        account = db.scalars(
            select(Account).where(Account.username == username.strip().casefold())
        ).one_or_none()
        roles = (
            set()
            if account is None
            else set(
                db.scalars(select(AccountRole.role).where(AccountRole.account_id == account.id))
            )
        )
    if account is None or account.kind != "staff" or account.status != "active":
        raise click.ClickException("--registrar must name an active staff account")
    if Role.REGISTRAR.value not in roles:
        raise click.ClickException(f"{username!r} does not hold the registrar role")
    return Actor("staff", account.id, new_request_id(), "cli")


@group.command("enrol")
@REGISTRAR
@click.option("--username", required=True, help="The subject's chosen username.")
@with_appcontext
def enrol(registrar: str, username: str) -> None:
    """Enrol a subject: asks the ID number, the name and the initial password."""
    parts = container()
    actor = _registrar(parts, registrar)
    id_number: str = click.prompt("Citizen ID number", hide_input=True)
    name: str = click.prompt("Name as on the identity document")
    password = _new_password(username)
    with parts.unit() as db:
        outcome = RegistrarService(parts.keys, parts.query_log(), parts.passwords).enrol(
            db,
            actor,
            id_number=id_number,
            name=name,
            username=username,
            password=password,
            today=parts.clock.today(),
            now=parts.clock.now(),
        )
    if not outcome.done:
        raise click.ClickException(f"refused ({outcome.refused}): {outcome.message}")
    held = "new subject" if outcome.new_subject else "subject already held from intake"
    click.echo(f"enrolled {outcome.username} ({held}); next: flask subjects issue-card")


def _issue(
    username: str,
    registrar: str,
    module_path: str,
    token_label: str,
    key_type: str,
    days: int,
    reason: str | None,
) -> None:
    parts = container()
    actor = _registrar(parts, registrar)
    card = card_token(parts.settings, module_path, token_label)
    pin = read_card_pin()
    service = RegistrarService(parts.keys, parts.query_log(), parts.passwords)

    def store(der: bytes) -> None:
        card.store_certificate(pin, der)

    if key_type not in new_card_key_types(utcnow()):
        raise click.ClickException(f"new cards carry ECDSA P-256 keys, not {key_type}")
    try:
        spki = card.generate_key(pin, key_type)
        with parts.unit() as db:
            outcome: IssuedCard
            if reason is None:
                outcome = service.issue_card(
                    db, actor, username=username, public_key_der=spki, now=parts.clock.now(),
                    days=days, store=store,
                )  # fmt: skip
            else:
                outcome = service.replace_card(
                    db, actor, username=username, public_key_der=spki, reason=reason,
                    now=parts.clock.now(), days=days, store=store,
                )  # fmt: skip
    except (CardError, HsmError) as exc:
        raise click.ClickException(str(exc)) from None
    if not outcome.done:
        raise click.ClickException(f"refused ({outcome.refused}): {outcome.message}")
    click.echo(f"issued card {token_label!r} to {username!r}")
    if reason is not None:
        click.echo(
            f"  revoked     {outcome.cards_revoked} card(s) ({reason}); "
            f"{outcome.sessions_ended} session(s) ended"
        )
    click.echo(f"  thumbprint  {outcome.thumbprint}")
    click.echo(f"  valid to    {outcome.not_after:%Y-%m-%d}")


_KEY_TYPE = click.option(
    "--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True
)
_DAYS = click.option(
    "--days", type=click.IntRange(1, 3660), default=DEFAULT_CARD_DAYS, show_default=True
)


@group.command("issue-card")
@REGISTRAR
@click.option("--username", required=True, help="The subject's username.")
@MODULE
@click.option("--token-label", required=True, help="Token label of the blank card.")
@_KEY_TYPE
@_DAYS
@with_appcontext
def issue_card(
    registrar: str, username: str, module_path: str, token_label: str, key_type: str, days: int
) -> None:
    """Generate a key on a blank card, certify it and enrol it for the subject."""
    _issue(username, registrar, module_path, token_label, key_type, days, None)


@group.command("replace-card")
@REGISTRAR
@click.option("--username", required=True, help="The subject's username.")
@MODULE
@click.option("--token-label", required=True, help="Token label of the new blank card.")
@click.option("--reason", type=click.Choice(REPLACEMENT_REASONS), required=True)
@_KEY_TYPE
@_DAYS
@with_appcontext
def replace_card(
    registrar: str,
    username: str,
    module_path: str,
    token_label: str,
    reason: str,
    key_type: str,
    days: int,
) -> None:
    """Revoke the subject's cards (ending their sessions) and issue a new blank card."""
    _issue(username, registrar, module_path, token_label, key_type, days, reason)
