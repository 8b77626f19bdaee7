"""`flask repair list|approve|refuse`: the registrar's console, the same use cases as the API
(each run one query-log entry under the registrar's account)."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.clocks import MovableClock
from tests.logins import make_account
from tests.web.intake_helpers import TODAY, penalty_row, register_provider
from tests.web.repair_helpers import apply, reasons
from tests.web.rights_helpers import holder_of


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def test_a_registrar_lists_refuses_and_approves_at_the_console(app: Flask) -> None:
    court = register_provider(app, kind="court")
    holder = holder_of(
        app, court, 531, [penalty_row(court, "C-1", 531), penalty_row(court, "C-2", 531)]
    )
    first, second = (r["id"] for r in holder.records() if r["type"] == "D.penalty_general")
    refused_id = apply(holder, first, explanation="已缴清罚款。").get_json()["application"]["id"]
    approved_id = apply(holder, second).get_json()["application"]["id"]
    make_account(app, "repair-desk", kind="staff", roles=("registrar",))
    make_account(app, "till-1", kind="staff", roles=("cashier",))
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["repair", "list", "--registrar", "repair-desk"])
    assert listed.exit_code == 0, listed.output
    assert refused_id in listed.output
    assert "已缴清罚款。" in listed.output
    assert "2 application(s) as of 2026-12-04." in listed.output
    cashier = runner.invoke(args=["repair", "list", "--registrar", "till-1"])
    assert cashier.exit_code != 0
    assert "registrar role" in cashier.output
    no_reason = runner.invoke(
        args=["repair", "refuse", refused_id, "--registrar", "repair-desk"], input="\n"
    )
    assert no_reason.exit_code != 0  # a refusal needs its reason: the prompt insists
    refused = runner.invoke(
        args=["repair", "refuse", refused_id, "--registrar", "repair-desk"],
        input="凭证不清晰。\n",
    )
    assert refused.exit_code == 0, refused.output
    assert '"status": "refused"' in refused.output
    approved = runner.invoke(
        args=["repair", "approve", approved_id, "--registrar", "repair-desk"], input="\n"
    )
    assert approved.exit_code == 0, approved.output
    assert f'"hidden_from": "{TODAY.isoformat()}"' in approved.output
    again = runner.invoke(
        args=["repair", "approve", approved_id, "--registrar", "repair-desk"], input="\n"
    )
    assert again.exit_code == 1
    assert "not_open" in again.output
    assert reasons(app, "registry:repair:decide") == [
        ("allowed", "repair_refused"),
        ("allowed", "repair_approved"),
        ("denied", "not_open"),
    ]
