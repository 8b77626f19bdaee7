"""`flask log checkpoint|verify`: the query log's signed checkpoints and its integrity check.

Neither command prints entry contents: only sequence numbers, counts and what is wrong.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.checkpoints import checkpoint_now

group = click.Group("log", help="Query-log checkpoints and verification.")


@group.command("checkpoint")
@with_appcontext
def checkpoint() -> None:
    """Sign the current head of the query log now (for cron when traffic stops)."""
    parts = container()
    with parts.transaction() as db:
        seq = checkpoint_now(db, parts.key_provider)
    if seq is None:
        click.echo("nothing to sign: the head is already checkpointed")
    else:
        click.echo(f"signed checkpoint at seq {seq}")
