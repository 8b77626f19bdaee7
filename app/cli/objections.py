"""`flask objections list|overdue|resolve|escalate`: a registrar answers subjects' objections at the
registry console (the same use cases as the API: each run is one query-log entry under the
registrar's staff account).

The registrar names themselves (`--registrar`, an active staff account holding the
`registrar` role); the console stands for the password + TOTP + card login of the API. The
reason for an outcome is asked at a prompt (never an argument: arguments land in shell history
and process lists) and is stored sealed. A refusal prints the service's message and exits 1.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.container import Container, container
from app.models import Account, AccountRole, Role
from app.services.outcomes import Answer, Answered
from app.services.querylog.attempt import Asker, Body
from app.services.querylog.log import new_request_id
from app.services.rights.resolution import ObjectionDesk
from policies.decision import Caller

group = click.Group("objections", help="Registrars: answer subjects' objections to records.")
REGISTRAR = click.option(
    "--registrar", required=True, help="Your staff username (holder of the registrar role)."
)
CONSOLE = frozenset({"password", "totp", "card"})


def registrar_asker(parts: Container, username: str) -> Asker:
    """The registrar at the console, as the use cases see a registrar's session."""
    with parts.unit() as db:
        account = db.scalars(
            select(Account).where(Account.username == username.strip().casefold())
        ).one_or_none()
        roles = (
            frozenset()
            if account is None
            else frozenset(
                db.scalars(select(AccountRole.role).where(AccountRole.account_id == account.id))
            )
        )
    if account is None or account.kind != "staff" or account.status != "active":
        raise click.ClickException("--registrar must name an active staff account")
    if Role.REGISTRAR.value not in roles:
        raise click.ClickException(f"{username!r} does not hold the registrar role")
    return Asker(
        caller=Caller("staff", CONSOLE, roles),
        actor_ref=str(account.id),
        request_id=new_request_id(),
        client_address="cli",
        account_id=account.id,
        subject_id=account.subject_id,
    )


def _show(outcome: Answer) -> dict[str, Any]:
    if not isinstance(outcome, Answered):
        raise click.ClickException(f"{outcome.error}: {outcome.message}")
    return dict(outcome.document)


@group.command("list")
@REGISTRAR
@click.option("--all", "every", is_flag=True, help="Answered objections too.")
@with_appcontext
def listing(registrar: str, every: bool) -> None:
    """The open objections, earliest due first, with what the subject wrote."""
    parts = container()
    shown = _show(
        ObjectionDesk(parts).listing(registrar_asker(parts, registrar), include_resolved=every)
    )
    for item in shown["objections"]:
        late = " OVERDUE" if item["overdue"] else ""
        click.echo(
            f"{item['id']}  {item['status']}/{item['stage']}  due {item['due_on'] or '-'}{late}"
            f"  {item['record_type']} {item['record_id']}"
            f"{'  -> ' + item['outcome'] if item['outcome'] else ''}"
        )
        click.echo(f"    {item['text']}")
    click.echo(f"{len(shown['objections'])} objection(s) as of {shown['as_of']}.")


@group.command("overdue")
@REGISTRAR
@with_appcontext
def overdue(registrar: str) -> None:
    """Name the open objections past their answer day (exit 1 if any: for cron)."""
    parts = container()
    shown = _show(ObjectionDesk(parts).listing(registrar_asker(parts, registrar)))
    late = [item for item in shown["objections"] if item["overdue"]]
    for item in late:
        click.echo(
            f"{item['id']}  {item['stage']}  due {item['due_on']}  {item['record_type']}"
            f" {item['record_id']}"
        )
    click.echo(f"{len(late)} overdue objection(s) as of {shown['as_of']}.")
    if late:
        raise SystemExit(1)


@group.command("resolve")
@click.argument("objection_id")
@REGISTRAR
@click.option("--outcome", required=True, type=click.Choice(["corrected", "deleted", "upheld"]))
@click.option("--corrected-record-id", help="The provider's correcting version (optional).")
@with_appcontext
def resolve(
    objection_id: str, registrar: str, outcome: str, corrected_record_id: str | None
) -> None:
    """Answer an objection; the reason is asked at a prompt (required for upheld)."""
    parts = container()
    asker = registrar_asker(parts, registrar)
    reason: str = click.prompt(
        "Reason" + (" (required)" if outcome == "upheld" else " (Enter for none)"),
        default="" if outcome != "upheld" else None,
        show_default=False,
    )
    body: dict[str, Any] = {"outcome": outcome}
    if reason.strip():
        body["reason"] = reason
    if corrected_record_id:
        body["corrected_record_id"] = corrected_record_id
    shown = _show(ObjectionDesk(parts).resolve(asker, objection_id, Body(body)))
    click.echo(json.dumps(shown, ensure_ascii=False, indent=2))


@group.command("escalate")
@click.argument("objection_id")
@REGISTRAR
@click.option("--stage", required=True, type=click.Choice(["reconsideration", "court"]))
@with_appcontext
def escalate(objection_id: str, registrar: str, stage: str) -> None:
    """Record that an upheld objection went on to reconsideration (复核) or court (诉讼)."""
    parts = container()
    asker = registrar_asker(parts, registrar)
    shown = _show(ObjectionDesk(parts).escalate(asker, objection_id, Body({"stage": stage})))
    click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
