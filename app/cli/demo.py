"""`flask demo seed`: synthetic residents and records at city scale, streamed in batches."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask.cli import with_appcontext

from app.container import container
from app.demo.loader import seed_demo
from app.settings import Mode

group = click.Group("demo", help="Synthetic demo data.")


@group.command("seed")
@click.option(
    "--subjects", "count", type=click.IntRange(1, 10_000_000), default=2000, show_default=True
)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--batch", type=click.IntRange(1, 20_000), default=1000, show_default=True)
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Reference date")
@click.option(
    "--if-missing",
    is_flag=True,
    help="Do nothing if COUNT subjects already exist; otherwise load the missing ones.",
)
@with_appcontext
def seed(count: int, seed: int, batch: int, today: object, if_missing: bool) -> None:
    """Load COUNT synthetic subjects (deterministic for --seed) in constant memory."""
    if container().settings.mode is Mode.PRODUCTION:
        raise click.ClickException(
            "demo data exists only in development and tests: production refuses to seed"
        )
    reference = today.date() if isinstance(today, datetime) else date.today()
    result = seed_demo(
        container(),
        count=count,
        seed=seed,
        batch_size=batch,
        today=reference,
        if_missing=if_missing,
        progress=True,
    )
    if result is None:
        click.echo("demo data already present; nothing loaded")
        return
    click.echo(
        f"loaded {result.subjects_added} subjects and {result.records_added} records "
        f"({result.subjects_skipped} subjects already present, {result.records_expired} records "
        f"past their destruction date not stored) in {result.seconds:.1f}s"
    )
