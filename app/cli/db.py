"""`flask db upgrade|downgrade|current`: Alembic revisions, configured in code."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app import migrate
from app.container import container

group = click.Group("db", help="Database schema migrations.")


@group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrate.upgrade(container().settings.database_url, revision)
    click.echo(f"database at {migrate.current_revision(container().settings.database_url)}")


@group.command("downgrade")
@click.argument("revision")
@with_appcontext
def downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    migrate.downgrade(container().settings.database_url, revision)
    click.echo(f"database at {migrate.current_revision(container().settings.database_url)}")


@group.command("current")
@with_appcontext
def current() -> None:
    """Print the current and head revisions."""
    url = container().settings.database_url
    click.echo(f"current: {migrate.current_revision(url)}  head: {migrate.head_revision(url)}")
