"""`flask lists rebuild|derive|overdue`: the public lists.

`rebuild` rebuilds the public-list search index from the sealed identities (for databases
loaded before the index existed; new intakes index themselves). `derive` proposes red and black
list changes from today's records, each to be reviewed by a compliance officer before it is
published (run it daily from cron). `overdue` names the removals whose listing still shows
after their due day (exit 1 if any: cron can alert). Prints only counts, ids and dates, never
a name or an ID number.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.lists.public_lists import PublicListService
from app.services.lists.review import ListReview, list_review
from app.services.reports.assembly import ReportService

group = click.Group("lists", help="The public lists (penalties, licensing, dishonest debtors).")


@group.command("rebuild")
@with_appcontext
def rebuild() -> None:
    """Rebuild the public-list index (one HMAC per listed subject)."""
    parts = container()
    service = PublicListService(parts.key_provider, ReportService(parts.cipher, parts.catalog))
    with parts.unit() as db:
        count = service.rebuild(db, parts.catalog)
    click.echo(f"indexed {count} public-list records")


def _review() -> ListReview:
    parts = container()
    return list_review(parts.catalog, parts.cipher, parts.key_provider, parts.query_log())


@group.command("derive")
@with_appcontext
def derive() -> None:
    """Propose red/black list changes from today's records (each awaits an officer's review)."""
    parts = container()
    with parts.unit() as db:
        result = _review().derive(db, on=parts.clock.today(), now=parts.clock.now())
    click.echo(
        f"{result.subjects} subjects looked at; proposed {result.proposed_add} listing(s), "
        f"{result.proposed_remove} removal(s); withdrew {result.withdrawn} stale proposal(s)"
    )


@group.command("overdue")
@with_appcontext
def overdue() -> None:
    """Removals whose listing still shows after their due day (exit 1 if any)."""
    parts = container()
    with parts.unit() as db:
        late = _review().overdue(db, on=parts.clock.today())
    for change in late:
        click.echo(
            f"OVERDUE {change['list']} removal {change['id']} decided {change['decided_on']}, "
            f"due {change['due_by']}{' (provisional)' if change['due_provisional'] else ''}, "
            f"status {change['status']}"
        )
    if late:
        raise click.exceptions.Exit(1)
    click.echo("no overdue removal")
