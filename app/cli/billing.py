"""`flask billing top-up|ledger`: institution prepaid accounts from the cashier's console.

Every top-up is one ledger row naming its reference (the receipt or transfer number) and who
made it (`--by`, default the operating-system user); nothing secret is taken or printed.
"""

from __future__ import annotations

import getpass

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.billing.ledger import LedgerError, LedgerService, entry_view, institution_id_for

group = click.Group("billing", help="Institution prepaid ledgers.")


@group.command("top-up")
@click.argument("client_id")
@click.argument("amount_fen", type=int)
@click.option("--reference", required=True, help="Receipt or bank-transfer reference.")
@click.option("--by", "made_by", default=None, help="Who records it (default: OS user).")
@with_appcontext
def top_up(client_id: str, amount_fen: int, reference: str, made_by: str | None) -> None:
    """Add AMOUNT_FEN (1 yuan = 100 fen) to the institution CLIENT_ID's prepaid balance."""
    who = made_by or f"cli:{getpass.getuser()}"
    try:
        with container().unit() as db:
            institution_id = institution_id_for(db, client_id)
            if institution_id is None:
                raise click.ClickException(f"no institution with client id {client_id}")
            entry = LedgerService().top_up(
                db,
                institution_id=institution_id,
                amount_fen=amount_fen,
                reference=reference,
                created_by=who,
            )
            view = entry_view(entry)
    except LedgerError as bad:
        raise click.ClickException(str(bad)) from None
    click.echo(f"topped up {amount_fen} fen for {client_id}; balance {view['balance_after']} fen")


@group.command("ledger")
@click.argument("client_id")
@with_appcontext
def ledger(client_id: str) -> None:
    """Show the institution CLIENT_ID's balance and latest movements."""
    with container().unit() as db:
        institution_id = institution_id_for(db, client_id)
        if institution_id is None:
            raise click.ClickException(f"no institution with client id {client_id}")
        service = LedgerService()
        balance = service.balance(db, institution_id)
        rows = [entry_view(entry) for entry in service.entries(db, institution_id)]
    click.echo(f"{client_id}  balance {balance} fen")
    for row in rows:
        click.echo(
            f"{row['at']}  {row['kind']:<6}  {row['amount_fen']:>10}  "
            f"{row['balance_after']:>10}  {row['reference']}  ({row['created_by']})"
        )
