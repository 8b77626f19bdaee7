"""Who watches the watchers (issue 16 item 5): the staff's own actions are query-log entries an
officer finds by searching the log — a cashier's confirmations, refunds and top-ups (an
order's entry names its subject by blind index), role grants, card issue and revocation, key
rotation and shredding, institution registration, disabling and suspension — refused ones
too, and an officer's own searches, entry views and case actions are entries the other
officers see. SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.container import container
from app.models import Account, Order
from crypto.blind_index import BlindIndexKind, blind_index
from policies.identifiers import make_citizen_id, make_credit_code
from tests.logins import logged_in, make_account
from tests.services.billing_helpers import add_institution
from tests.web.oauth_helpers import ec_key, public_pem
from tests.web.review_helpers import STAFF, found, officer

SUBJECT = frozenset({"password", "card"})
ID_NUMBER = make_citizen_id("500103", date(1984, 6, 2), 17)


def _pairs(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["decision"], entry["reason"]) for entry in entries]


def test_a_cashiers_confirmation_refund_and_top_up_are_entries_an_officer_finds(
    app: Flask,
) -> None:
    buyer, buyer_csrf = logged_in(app, make_account(app, "buyer"), SUBJECT)
    ordered = buyer.post("/api/v1/archive/orders", json={"id_number": ID_NUMBER},
                         headers={"X-CSRF-Token": buyer_csrf})  # fmt: skip
    assert ordered.status_code == 201
    order_id = ordered.get_json()["order"]["id"]
    account = make_account(app, "cashier.zhao", kind="staff", roles=("cashier",))
    cashier, csrf = logged_in(app, account, STAFF)
    headers = {"X-CSRF-Token": csrf}
    base = f"/api/v1/billing/orders/{order_id}"
    assert cashier.post(f"{base}/confirm", json={}, headers=headers).status_code == 400
    assert cashier.post(f"{base}/confirm", json={"payment_ref": "R-1"},
                        headers=headers).status_code == 200  # fmt: skip
    assert cashier.post(f"{base}/refund", json={"reason": "asked"},
                        headers=headers).status_code == 200  # fmt: skip
    assert cashier.post(f"{base}/confirm", json={"payment_ref": "R-2"},
                        headers=headers).status_code == 409  # fmt: skip
    with container(app).unit() as db:
        client_id = add_institution(db).client_id
    top_ups = f"/api/v1/billing/institutions/{client_id}/top-ups"
    assert cashier.post(top_ups, json={"amount_fen": 500, "reference": "T-1"},
                        headers=headers).status_code == 201  # fmt: skip
    assert cashier.post(top_ups, json={"amount_fen": -5, "reference": "x"},
                        headers=headers).status_code == 400  # fmt: skip

    wu = officer(app)
    mine = found(wu, actor="cashier.zhao")
    assert [(e["action"], e["decision"], e["reason"]) for e in reversed(mine)] == [
        ("billing:order:confirm", "denied", "bad_request"),
        ("billing:order:confirm", "allowed", "payment_confirmed"),
        ("billing:order:refund", "allowed", "refunded"),
        ("billing:order:confirm", "denied", "order_not_pending"),
        ("billing:ledger:topup", "allowed", "topped_up"),
        ("billing:ledger:topup", "denied", "bad_request"),
    ]
    with container(app).unit() as db:  # an order's entries name its subject by blind index
        bidx = db.scalars(select(Order.subject_bidx).where(Order.id == uuid.UUID(order_id))).one()
    assert bytes(bidx) == blind_index(
        container(app).key_provider, BlindIndexKind.CITIZEN_ID, ID_NUMBER
    )
    about = found(wu, subject=ID_NUMBER, actor_kind="staff")
    assert {e["action"] for e in about} == {"billing:order:confirm", "billing:order:refund"}


def test_role_grants_and_new_staff_are_entries_an_officer_finds(app: Flask) -> None:
    runner: FlaskCliRunner = app.test_cli_runner()
    make_account(app, "registrar.he", kind="staff", roles=("registrar",))
    assert runner.invoke(args=["accounts", "grant-role", "--username", "registrar.he",
                               "--role", "cashier"]).exit_code == 0  # fmt: skip
    refused = runner.invoke(args=["accounts", "grant-role", "--username", "nobody",
                                  "--role", "cashier"])  # fmt: skip
    assert refused.exit_code == 1
    assert runner.invoke(args=["accounts", "revoke-role", "--username", "registrar.he",
                               "--role", "cashier"]).exit_code == 0  # fmt: skip
    wu = officer(app)
    grants = found(wu, action="operator:role:grant")
    assert _pairs(grants) == [("denied", "refused_cashier"), ("allowed", "granted_cashier")]
    assert {e["actor_kind"] for e in grants} == {"operator"}
    assert _pairs(found(wu, action="operator:role:revoke")) == [("allowed", "revoked_cashier")]
    assert found(wu, actor_kind="operator", tier="operator", limit=10)


def test_institution_registration_and_disabling_are_entries_an_officer_finds(
    app: Flask, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    key = tmp_path / "bank.pem"
    key.write_bytes(public_pem(ec_key()))
    code = make_credit_code("9", "1", "350100", "MA123456")
    registered = runner.invoke(args=[
        "institutions", "register", "--credit-code", code, "--name", "Test Bank",
        "--public-key", str(key), "--scope", "institution:report:query",
    ])  # fmt: skip
    assert registered.exit_code == 0, registered.output
    client_id = registered.output.split("client_id: ")[1].split()[0]
    assert runner.invoke(args=["institutions", "disable", "--client-id", client_id]).exit_code == 0
    unknown = runner.invoke(args=["institutions", "disable", "--client-id", "inst-none"])
    assert unknown.exit_code == 1
    wu = officer(app)
    assert _pairs(found(wu, action="operator:institution:register")) == [("allowed", "registered")]
    assert _pairs(found(wu, action="operator:institution:disable")) == [
        ("denied", "not_found"),
        ("allowed", "disabled"),
    ]


def test_key_rotation_and_shredding_are_entries_an_officer_finds(app: Flask) -> None:
    runner = app.test_cli_runner()
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    future = runner.invoke(args=["keys", "shred", "--month", "2999-01", "--yes"])
    assert future.exit_code == 1
    wu = officer(app)
    (rotation,) = found(wu, action="operator:key:rotate")
    assert (rotation["decision"], rotation["reason"], rotation["actor_kind"]) == (
        "allowed",
        "rotated_cg_master_wrap",
        "operator",
    )
    assert _pairs(found(wu, action="operator:key:shred")) == [("denied", "refused_2999_01")]


def test_an_officers_searches_views_and_case_actions_are_seen_by_another(app: Flask) -> None:
    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")
    found(wu, decision="denied")
    first = found(wu, action="compliance:log:search")[0]
    assert wu.client.get(f"/api/v1/review/log/entries/{first['seq']}").status_code == 200
    assert wu.client.get("/api/v1/review/cases").status_code == 200
    seen = found(lin, actor="officer.wu")
    assert {e["action"] for e in seen} == {
        "compliance:log:search",
        "compliance:log:read",
        "compliance:case:read",
    }
    with container(app).unit() as db:
        wu_id = db.scalars(select(Account.id).where(Account.username == "officer.wu")).one()
    assert {e["actor_ref"] for e in seen} == {str(wu_id)}
