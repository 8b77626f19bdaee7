"""`flask lists rebuild`: rebuild the public-list search index from the sealed identities.

For databases loaded before the index existed (new intakes index themselves). Prints only
counts, never a name or an ID number.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.lists.public_lists import PublicListService
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
