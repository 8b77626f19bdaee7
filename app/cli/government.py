"""`flask government register|list|queries`: government and administrative queriers.

An agency is registered like an institution (credit code, name, PEM public key; its private
key never leaves it) for one or more administrative purposes of
`policies/data/government.toml`; it gets the scope `government:report:query` and queries
`POST /api/v1/government/reports` citing a legal basis. `queries` lists the government tier's
query-log entries for a compliance officer (the reading is itself logged).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.government.agencies import AgencyView, GovernmentAgencies
from app.services.government.review import GovernmentQueryReview, officer_at_the_console
from app.services.oauth.institutions import MAX_KEY_FILE_BYTES, InstitutionError
from app.services.oauth.tokens import TOKEN_PATH
from app.services.outcomes import Answered
from app.services.querylog.host import HostAction
from app.services.querylog.log import new_request_id
from policies.actions import Action
from policies.government import load_government

group = click.Group("government", help="Government agencies that query on a legal basis.")

_KEY_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def _show(view: AgencyView) -> str:
    return (
        f"{view.client_id}  {view.status:<8}  {view.credit_code}  {view.key:<9}  "
        f"{' '.join(view.purposes)}  {view.name}"
    )


@group.command("register")
@click.option("--credit-code", required=True, help="Unified social credit code (GB 32100).")
@click.option("--name", required=True, help="The agency's registered name.")
@click.option("--public-key", "key_file", required=True, type=_KEY_FILE, help="PEM public key.")
@click.option(
    "--purpose",
    "purposes",
    required=True,
    multiple=True,
    type=click.Choice(sorted(load_government().purposes)),
    help="An administrative purpose the agency may query for (repeatable).",
)
@click.option("--statistics", is_flag=True, help="Also grant the scope statistics:read.")
@with_appcontext
def register(
    credit_code: str, name: str, key_file: Path, purposes: tuple[str, ...], statistics: bool
) -> None:
    """Register an agency and print its client id and the token endpoint URL."""
    if key_file.stat().st_size > MAX_KEY_FILE_BYTES:
        raise click.BadParameter("the file is too large to be a PEM public key")
    parts = container()
    logged = HostAction(parts, Action.OPERATOR_INSTITUTION_REGISTER)
    try:
        with parts.unit() as db:
            view = GovernmentAgencies(parts.policy.government_purposes).register(
                db,
                credit_code=credit_code,
                name=name,
                public_key_pem=key_file.read_bytes(),
                purposes=purposes,
                statistics=statistics,
            )
            logged.done(db, "registered_agency")
    except InstitutionError as exc:
        logged.refused("bad_request")
        raise click.ClickException(str(exc)) from None
    token_url = f"{parts.settings.public_url}{TOKEN_PATH}"
    click.echo(f"registered {view.name} ({view.credit_code}), key {view.key}")
    click.echo(f"client_id: {view.client_id}")
    click.echo(f"token endpoint: {token_url}")
    click.echo(f"scopes: {' '.join(view.scopes)}")
    click.echo(f"purposes: {' '.join(view.purposes)}")
    click.echo(
        f"client assertions: private_key_jwt signed {view.algorithm}, iss = sub = client_id, "
        f"aud = {token_url}; queries: POST /api/v1/government/reports with a legal_basis"
    )


@group.command("list")
@with_appcontext
def list_agencies() -> None:
    """List agencies: client id, status, credit code, key, purposes, name."""
    parts = container()
    with parts.unit() as db:
        views = GovernmentAgencies(parts.policy.government_purposes).list_all(db)
    if not views:
        click.echo("no government agencies registered")
    for view in views:
        click.echo(_show(view))


@group.command("queries")
@click.option("--officer", required=True, help="Your staff username (compliance role).")
@click.option("--limit", default="50", show_default=True, help="Entries per page (1..500).")
@click.option("--cursor", default=None, help="next_cursor of the previous page.")
@with_appcontext
def queries(officer: str, limit: str, cursor: str | None) -> None:
    """The government tier's query-log entries, newest first, as JSON (logged)."""
    parts = container()
    asker = officer_at_the_console(parts, officer, new_request_id())
    if asker is None:
        raise click.ClickException("--officer must name an active compliance officer")
    outcome = GovernmentQueryReview(parts).page(asker, limit, cursor)
    if not isinstance(outcome, Answered):
        raise click.ClickException(outcome.message)
    click.echo(json.dumps(outcome.document, ensure_ascii=False, indent=2))
