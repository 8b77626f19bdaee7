"""`flask objections list|resolve|escalate`: the registrar's console, the same use cases as the
API (each run one query-log entry under the registrar's account)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry
from tests.clocks import MovableClock
from tests.logins import make_account
from tests.web.intake_helpers import TODAY, judgment, register_provider
from tests.web.rights_helpers import holder_of


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def test_a_registrar_lists_upholds_and_escalates_at_the_console(
    app: Flask, clock: MovableClock
) -> None:
    court = register_provider(app)
    holder = holder_of(app, court, 421, [judgment(court, "K-1", 421)])
    record_id = holder.record("D.civil_judgment")["id"]
    objection = holder.object_to(record_id, "金额有误。").get_json()["objection"]
    registrar = make_account(app, "desk-1", kind="staff", roles=("registrar",))
    make_account(app, "cashier-1", kind="staff", roles=("cashier",))
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["objections", "list", "--registrar", "desk-1"])
    assert listed.exit_code == 0, listed.output
    assert objection["id"] in listed.output
    assert "金额有误。" in listed.output
    assert "1 objection(s)" in listed.output
    on_time = runner.invoke(args=["objections", "overdue", "--registrar", "desk-1"])
    assert on_time.exit_code == 0
    assert on_time.output.strip().endswith("0 overdue objection(s) as of 2026-12-04.")
    clock.move_to_day(TODAY + timedelta(days=21))
    late = runner.invoke(args=["objections", "overdue", "--registrar", "desk-1"])
    assert late.exit_code == 1
    assert objection["id"] in late.output
    clock.move_to_day(TODAY)
    refused = runner.invoke(args=["objections", "list", "--registrar", "cashier-1"])
    assert refused.exit_code != 0
    assert "registrar role" in refused.output
    upheld = runner.invoke(
        args=[
            "objections",
            "resolve",
            objection["id"],
            "--registrar",
            "desk-1",
            "--outcome",
            "upheld",
        ],
        input="经核实，金额无误。\n",
    )
    assert upheld.exit_code == 0, upheld.output
    assert '"outcome": "upheld"' in upheld.output
    again = runner.invoke(
        args=[
            "objections",
            "resolve",
            objection["id"],
            "--registrar",
            "desk-1",
            "--outcome",
            "deleted",
        ],
        input="\n",
    )
    assert again.exit_code == 1
    assert "not_open" in again.output
    escalated = runner.invoke(
        args=[
            "objections",
            "escalate",
            objection["id"],
            "--registrar",
            "desk-1",
            "--stage",
            "court",
        ]
    )
    assert escalated.exit_code == 0, escalated.output
    assert holder.record("D.civil_judgment")["objection"]["stage"] == "court"
    with container(app).sessions() as db:
        actors = set(
            db.scalars(
                select(QueryLogEntry.actor_ref).where(
                    QueryLogEntry.action.like("registry:objection:%")
                )
            )
        )
    assert actors == {str(registrar.id)}
