"""`flask statistics report [--from D] [--to D]`: the aggregate statistics as JSON (the same
figures as the API: no subject-level data, cells under 10 subjects suppressed, and their
complement). The read is a query-log entry under the operator's staff account."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.container import container
from app.models import Account, AccountRole, Role
from app.services.querylog.log import new_request_id
from app.services.statistics.aggregates import BadPeriod, Reader, parse_period
from app.services.statistics.factory import max_period_days, statistics_service

group = click.Group("statistics", help="Aggregate statistics for government and the regulator.")


@group.command("report")
@click.option("--officer", required=True, help="Your staff username (compliance role).")
@click.option("--from", "first", help="First day (YYYY-MM-DD); default 30 days ago.")
@click.option("--to", "last", help="Last day (YYYY-MM-DD); default today.")
@with_appcontext
def report(officer: str, first: str | None, last: str | None) -> None:
    parts = container()
    with parts.unit() as db:
        account = db.scalars(select(Account).where(Account.username == officer)).one_or_none()
        roles = (
            set()
            if account is None
            else set(
                db.scalars(select(AccountRole.role).where(AccountRole.account_id == account.id))
            )
        )
    if account is None or account.status != "active" or Role.COMPLIANCE.value not in roles:
        raise click.ClickException("--officer must name an active compliance officer")
    try:
        start, end = parse_period(
            first, last, today=parts.clock.today(), max_days=max_period_days()
        )
    except BadPeriod as exc:
        raise click.ClickException(str(exc)) from None
    reader = Reader("staff", str(account.id), new_request_id(), "cli", "compliance:statistics:read")
    with parts.unit() as db:
        result = statistics_service(parts.query_log()).report(
            db, reader, first=start, last=end, now=parts.clock.now()
        )
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
