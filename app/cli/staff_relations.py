"""`flask accounts declare-relation --username U --relation R`: a staff member's own ID number
(`self`, when the account is made) or a household member's, kept as a blind index for the
conflict-of-interest review rule. The number is asked at a hidden prompt (an argument lands in
shell history), never printed, stored or logged."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.review.relations import RELATIONS, RelationRefused, declare


@click.command("declare-relation")
@click.option("--username", required=True, help="The staff account.")
@click.option("--relation", type=click.Choice(RELATIONS), default="self", show_default=True)
@with_appcontext
def declare_relation(username: str, relation: str) -> None:
    """Declare a staff member's own ID number or a household member's (asked, hidden)."""
    id_number: str = click.prompt("Citizen ID number", hide_input=True)
    parts = container()
    try:
        with parts.unit() as db:
            new = declare(
                db, parts.key_provider, username=username, id_number=id_number,
                relation=relation, now=parts.clock.now(),
            )  # fmt: skip
    except RelationRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"{relation} declared for {username}" if new else "already declared")
