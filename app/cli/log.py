"""`flask log checkpoint|verify`: the query log's signed checkpoints and its integrity check.

Neither command prints entry contents: only sequence numbers, counts and what is wrong.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.querylog.checkpoints import checkpoint_now
from app.services.querylog.guards import missing_guards
from app.services.querylog.verify import verify_log
from crypto.keys import SigningKey

group = click.Group("log", help="Query-log checkpoints and verification.")


@group.command("checkpoint")
@with_appcontext
def checkpoint() -> None:
    """Sign the current head of the query log now (for cron when traffic stops)."""
    parts = container()
    with parts.unit() as db:
        seq = checkpoint_now(db, parts.key_provider)
    if seq is None:
        click.echo("nothing to sign: the head is already checkpointed")
    else:
        click.echo(f"signed checkpoint at seq {seq}")


@group.command("verify")
@click.option("--batch", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True)
@with_appcontext
def verify(batch: int) -> None:
    """Recompute the chain, check every checkpoint signature and the head, and check that the
    database still keeps the log append-only; exit 1 naming the first bad position or every
    missing guard if anything is wrong."""
    parts = container()
    public_key = parts.key_provider.public_key_der(SigningKey.LOG_CHECKPOINT)
    with parts.snapshot() as connection:  # appends committing meanwhile are not half-seen
        report = verify_log(connection, public_key, batch=batch)
        missing = missing_guards(connection, role=parts.settings.database_role)
    click.echo(report.summary())
    for guard in missing:
        click.echo(f"append-only guard missing: {guard}")
    if not report.intact or missing:
        raise SystemExit(1)
