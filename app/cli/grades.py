"""`flask grades list|approve|refuse|recompute`: registrars at the registry console decide the A
and E grades waiting for a second approval and grade subjects again (the same use cases as the
API: each run is one query-log entry under the registrar's staff account).

The registrar names themselves (`--registrar`, an active staff account holding the
`registrar` role); the console stands for the password + TOTP + card login of the API. A
refusal (your own proposal, your own grade, decided already) prints the service's message and
exits 1.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from app.cli.objections import REGISTRAR, registrar_asker
from app.container import container
from app.services.grades.desk import Grades
from app.services.outcomes import Answer, Answered
from app.services.querylog.attempt import Body

group = click.Group("grades", help="Registrars: second approval of A and E grades; regrading.")


def _show(outcome: Answer) -> dict[str, Any]:
    if not isinstance(outcome, Answered):
        raise click.ClickException(f"{outcome.error}: {outcome.message}")
    return dict(outcome.document)


@group.command("list")
@REGISTRAR
@click.option("--all", "every", is_flag=True, help="Decided and superseded ones too.")
@with_appcontext
def listing(registrar: str, every: bool) -> None:
    """The A and E grades waiting for a second approval, oldest first."""
    parts = container()
    shown = _show(Grades(parts).approvals(registrar_asker(parts, registrar), include_decided=every))
    for item in shown["approvals"]:
        mine = "  (your proposal)" if item["own_proposal"] else ""
        click.echo(
            f"{item['id']}  {item['status']}  grade {item['grade']} score {item['score']}"
            f"  subject {item['subject_ref']}  proposed {item['proposed_at'][:10]}{mine}"
        )
        for factor in item["explanation"]["factors"]:
            click.echo(f"    {factor['points']:+d}  {factor['factor']} ({len(factor['records'])})")
    click.echo(f"{len(shown['approvals'])} approval(s) as of {shown['as_of']}.")


def _decide(approval_id: str, registrar: str, decision: str) -> None:
    parts = container()
    asker = registrar_asker(parts, registrar)
    shown = _show(Grades(parts).decide(asker, approval_id, Body({"decision": decision})))
    click.echo(json.dumps(shown, ensure_ascii=False, indent=2))


@group.command("approve")
@click.argument("approval_id")
@REGISTRAR
@with_appcontext
def approve(approval_id: str, registrar: str) -> None:
    """Approve an A or an E you did not propose: it counts at once, and the list change it
    brings goes to the confidentiality review."""
    _decide(approval_id, registrar, "approve")


@group.command("refuse")
@click.argument("approval_id")
@REGISTRAR
@with_appcontext
def refuse(approval_id: str, registrar: str) -> None:
    """Refuse an A or an E: the previous grade goes on counting."""
    _decide(approval_id, registrar, "refuse")


@group.command("recompute")
@REGISTRAR
@click.option("--subject-ref", help="One subject (its reference); without it, every subject.")
@with_appcontext
def recompute(registrar: str, subject_ref: str | None) -> None:
    """Grade one subject, or every subject (a chunk per unit), again; you propose any A or E."""
    parts = container()
    asker = registrar_asker(parts, registrar)
    grades = Grades(parts)
    if subject_ref is not None:
        shown = _show(grades.recompute(asker, Body({"subject_ref": subject_ref})))
    else:
        with click.progressbar(length=0, label="grading", show_pos=True) as bar:
            shown = _show(grades.recompute_all(asker, bar.update))
    click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
