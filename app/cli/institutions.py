"""`flask institutions register|list|disable|rotate-key`: institutions that query under consent.

An institution is registered with its unified social credit code, name, public key (a PEM file
it sent us; its private key never leaves it) and scopes. The client id is generated here and
printed with the token endpoint URL; both go back to the institution. Nothing secret is taken
as an argument or printed. Registering, disabling and rotating a key are query-log entries
(`operator:institution:…`, `app.services.querylog.host`), refused ones too.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.oauth.institutions import (
    MAX_KEY_FILE_BYTES,
    SCOPES,
    InstitutionError,
    InstitutionService,
    InstitutionView,
)
from app.services.oauth.tokens import TOKEN_PATH
from app.services.querylog.host import HostAction
from policies.actions import Action

group = click.Group("institutions", help="Institutions that authenticate with OAuth 2.0.")

_KEY_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def _read_key(path: Path) -> bytes:
    if path.stat().st_size > MAX_KEY_FILE_BYTES:
        raise click.BadParameter("the file is too large to be a PEM public key")
    return path.read_bytes()


def _show(view: InstitutionView) -> str:
    return (
        f"{view.client_id}  {'suspended' if view.suspended else view.status:<9}  "
        f"{view.credit_code}  {view.key:<9}  "
        f"{' '.join(view.scopes)}  {view.name}"
    )


@group.command("register")
@click.option("--credit-code", required=True, help="Unified social credit code (GB 32100).")
@click.option("--name", required=True, help="The institution's registered name.")
@click.option("--public-key", "key_file", required=True, type=_KEY_FILE, help="PEM public key.")
@click.option(
    "--scope",
    "scopes",
    required=True,
    multiple=True,
    type=click.Choice(sorted(SCOPES)),
    help="A scope to grant (repeatable).",
)
@with_appcontext
def register(credit_code: str, name: str, key_file: Path, scopes: tuple[str, ...]) -> None:
    """Register an institution and print its client id and the token endpoint URL (under the
    public URL of the settings, CREDITGATE_PUBLIC_URL: the one its assertions must name)."""
    key = _read_key(key_file)
    logged = HostAction(container(), Action.OPERATOR_INSTITUTION_REGISTER)
    try:
        with container().unit() as db:
            view = InstitutionService().register(
                db, credit_code=credit_code, name=name, public_key_pem=key, scopes=scopes
            )
            logged.done(db, "registered")
    except InstitutionError as exc:
        logged.refused("bad_request")
        raise click.ClickException(str(exc)) from None
    click.echo(f"registered {view.name} ({view.credit_code}), key {view.key}")
    click.echo(f"client_id: {view.client_id}")
    token_url = f"{container().settings.public_url}{TOKEN_PATH}"
    click.echo(f"token endpoint: {token_url}")
    click.echo(f"scopes: {' '.join(view.scopes)}")
    click.echo(
        f"client assertions: private_key_jwt signed {view.algorithm}, iss = sub = client_id, "
        f"aud = {token_url}, exp at most 5 minutes ahead, a fresh jti every time"
    )


@group.command("list")
@with_appcontext
def list_institutions() -> None:
    """List institutions: client id, status, credit code, key, scopes, name."""
    with container().unit() as db:
        views = InstitutionService().list_all(db)
    if not views:
        click.echo("no institutions registered")
    for view in views:
        click.echo(_show(view))


@group.command("disable")
@click.option("--client-id", required=True)
@with_appcontext
def disable(client_id: str) -> None:
    """Disable an institution at once: no new tokens, and its live tokens are revoked."""
    logged = HostAction(container(), Action.OPERATOR_INSTITUTION_DISABLE)
    try:
        with container().unit() as db:
            revoked = InstitutionService().disable(db, client_id)
            logged.done(db, "disabled")
    except InstitutionError as exc:
        logged.refused("not_found")
        raise click.ClickException(str(exc)) from None
    click.echo(f"disabled {client_id.strip()}; revoked {revoked} live access tokens")


@group.command("rotate-key")
@click.option("--client-id", required=True)
@click.option("--public-key", "key_file", required=True, type=_KEY_FILE, help="PEM public key.")
@with_appcontext
def rotate_key(client_id: str, key_file: Path) -> None:
    """Replace an institution's public key; its live access tokens are revoked."""
    key = _read_key(key_file)
    logged = HostAction(container(), Action.OPERATOR_INSTITUTION_ROTATE_KEY)
    try:
        with container().unit() as db:
            revoked = InstitutionService().rotate_key(db, client_id, key)
            view = InstitutionService().get(db, client_id)
            logged.done(db, "key_rotated")
    except InstitutionError as exc:
        logged.refused("bad_request")
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"rotated the key of {view.client_id} (now {view.key}); revoked {revoked} live "
        "access tokens"
    )
