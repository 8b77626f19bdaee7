"""`flask keys rotate|rewrap|shred`: the data-key lifecycle (key custodians).

Rotating and shredding are query-log entries (`operator:key:rotate|shred`, the label or month
in the reason), a refused shred too (`app.services.querylog.host`). Re-wrapping changes no
key's meaning and writes none.
"""

from __future__ import annotations

import re

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.keys.lifecycle import KeyLifecycleError
from app.services.querylog.host import HostAction, code
from crypto.keys import WrappingKey, is_wrapping_label
from policies.actions import Action

group = click.Group("keys", help="Data-key rotation, re-wrap and crypto-shredding.")


@group.command("rotate")
@click.option("--label", default=WrappingKey.MASTER.value, show_default=True)
@with_appcontext
def rotate(label: str) -> None:
    """Retire the active data key under LABEL and create a new one."""
    if not is_wrapping_label(label):
        raise click.BadParameter("not a wrapping key label", param_hint="--label")
    parts = container()
    with parts.unit() as session:
        old, new = parts.keys.rotate(session, label)
        HostAction(parts, Action.OPERATOR_KEY_ROTATE).done(session, code("rotated_" + label))
    click.echo(f"rotated {label}: retired {old}, active {new}")


@group.command("rewrap")
@click.option("--batch", type=click.IntRange(1, 100_000), default=5000, show_default=True)
@with_appcontext
def rewrap(batch: int) -> None:
    """Move every value under a retired data key to its active key, then destroy the old key.

    Works in committed batches, so it can be interrupted and run again.
    """
    parts = container()
    moved, destroyed = 0, 0
    while True:
        with parts.unit() as session:
            progress = parts.keys.rewrap_retired(session, max_rows=batch)
        moved += progress.moved
        destroyed += len(progress.destroyed)
        if progress.moved == 0:
            break
    click.echo(
        f"re-wrapped {moved} sealed values (payload ciphertexts unchanged); "
        f"destroyed {destroyed} retired data keys; {progress.still_retired} still in use"
    )


@group.command("shred")
@click.option("--month", required=True, help="YYYY-MM: the retention epoch to destroy")
@click.confirmation_option(prompt="Destroy the epoch key? Records under it become unreadable.")
@with_appcontext
def shred(month: str) -> None:
    """Crypto-shred every record whose retention ended in MONTH."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None:
        raise click.BadParameter("expected YYYY-MM", param_hint="--month")
    parts = container()
    logged = HostAction(parts, Action.OPERATOR_KEY_SHRED)
    try:
        with parts.unit() as session:
            # the entry first: the HSM key goes last, once nothing else in the unit can fail
            logged.done(session, code(f"shredded_{match[1]}_{match[2]}"))
            count = parts.keys.shred_epoch(session, int(match[1]), int(match[2]))
    except KeyLifecycleError as exc:
        logged.refused(code(f"refused_{match[1]}_{match[2]}"))
        raise click.ClickException(str(exc)) from None
    click.echo(f"shredded epoch {month}: {count} records destroyed")
