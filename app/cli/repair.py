"""`flask repair list|approve|refuse`: a registrar decides subjects' credit repair applications
at the registry console (the same use cases as the API: each run is one query-log entry under
the registrar's staff account).

The registrar names themselves (`--registrar`, an active staff account holding the `registrar`
role), as for `flask objections`. The reason is asked at a prompt (never an argument: arguments
land in shell history and process lists) and is stored sealed. A refusal prints the service's
message and exits 1. Evidence files are read on the staff page or through the API.
"""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.cli.objections import REGISTRAR, _show, registrar_asker
from app.container import container
from app.services.querylog.attempt import Body
from app.services.rights.repair_desk import RepairDesk

group = click.Group("repair", help="Registrars: decide credit repair (信用修复) applications.")


@group.command("list")
@REGISTRAR
@click.option("--all", "every", is_flag=True, help="Decided applications too.")
@with_appcontext
def listing(registrar: str, every: bool) -> None:
    """The open applications, oldest first, with what the subject wrote and the evidence."""
    parts = container()
    shown = _show(
        RepairDesk(parts).listing(registrar_asker(parts, registrar), include_decided=every)
    )
    for item in shown["applications"]:
        files = ", ".join(f"{e['media_type']} {e['size']} B" for e in item["evidence"])
        click.echo(
            f"{item['id']}  {item['status']:<8}  {item['record_type']}  filed {item['filed_on']}"
            f"  record {item['record_id']}"
        )
        click.echo(f"    says: {item['explanation']}")
        click.echo(f"    evidence: {files}")
    click.echo(f"{len(shown['applications'])} application(s) as of {shown['as_of']}.")


def _decide(application_id: str, registrar: str, verdict: str, required: bool) -> None:
    parts = container()
    asker = registrar_asker(parts, registrar)
    reason: str = click.prompt(
        "Reason" + (" (required)" if required else " (Enter for none)"),
        default=None if required else "",
        show_default=False,
    )
    body = {"reason": reason} if reason.strip() else {}
    shown = _show(RepairDesk(parts).decide(asker, application_id, verdict, Body(body)))
    click.echo(json.dumps(shown, ensure_ascii=False, indent=2))


@group.command("approve")
@click.argument("application_id")
@REGISTRAR
@with_appcontext
def approve(application_id: str, registrar: str) -> None:
    """Approve: the record stops showing from max(today, decision day + minimum period)."""
    _decide(application_id, registrar, "approved", required=False)


@group.command("refuse")
@click.argument("application_id")
@REGISTRAR
@with_appcontext
def refuse(application_id: str, registrar: str) -> None:
    """Refuse, with the reason asked at a prompt; the record stays shown."""
    _decide(application_id, registrar, "refused", required=True)
