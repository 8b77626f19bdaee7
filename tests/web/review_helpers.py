"""The normal flows that disclose, run over HTTP, and a compliance officer to review them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import Institution, QueryLogEntry
from app.services.billing.ledger import LedgerService
from tests.consent_helpers import Signer, ingest_subjects, signer_for, token_for
from tests.logins import logged_in, make_account
from tests.web.oauth_helpers import ec_key, get_token, register

CARD = frozenset({"password", "card"})
STAFF = frozenset({"password", "totp"})
PURPOSE = "loan_approval"


@dataclass
class Officer:
    client: FlaskClient
    headers: dict[str, str]
    account_id: str

    def search(self, **filters: Any) -> Any:
        return self.client.post("/api/v1/review/log/search", json=filters, headers=self.headers)


def found(who: Officer, **filters: Any) -> list[dict[str, Any]]:
    """The entries an officer's search finds (newest first)."""
    answer = who.search(**filters)
    assert answer.status_code == 200, answer.get_json()
    entries: list[dict[str, Any]] = answer.get_json()["entries"]
    return entries


def officer(app: Flask, name: str = "officer.wu", methods: frozenset[str] = STAFF) -> Officer:
    account = make_account(app, name, kind="staff", roles=("compliance",))
    client, csrf = logged_in(app, account, methods)
    return Officer(client, {"X-CSRF-Token": csrf}, str(account.id))


@dataclass
class Flows:
    """What the flows did: the subject (alice), the bank's client id, the consent's id."""

    alice: Signer
    name: str  # alice's name, as her own report showed it (must never reach the log)
    bank: str
    consent_jti: str
    consent_token: str
    order_id: str
    answers: list[Any]


def run_flows(app: Flask) -> Flows:
    """Alice reads her report and query records and searches the public lists by her number;
    a bank queries her under her consent; a buyer orders, pays for (at the cashier) and
    downloads an archive report about her."""
    (synthetic,) = ingest_subjects(app, 1)
    alice = signer_for(app, synthetic, "alice")
    client, csrf = logged_in(app, alice.account, CARD)
    headers = {"X-CSRF-Token": csrf}
    own = client.post("/api/v1/self/reports", json={}, headers=headers)
    assert own.status_code == 200, own.get_json()
    assert client.get("/api/v1/self/query-records").status_code == 200
    listed = client.post(
        "/api/v1/public/lists/search", json={"id_number": alice.id_number}, headers=headers
    )
    assert listed.status_code == 200, listed.get_json()

    key = ec_key()
    bank = register(app, key)
    institution = app.test_client()
    bearer = get_token(institution, key, bank)
    with container(app).unit() as db:
        bank_id = db.scalars(select(Institution.id).where(Institution.client_id == bank)).one()
        LedgerService().top_up(
            db, institution_id=bank_id, amount_fen=10_000, reference="T1", created_by="cashier"
        )
    consent = token_for(alice, bank, PURPOSE, scope=("A", "B", "C", "D"))
    third = institution.post(
        "/api/v1/institution/reports",
        json={"id_number": alice.id_number, "purpose": PURPOSE, "consent_token": consent},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert third.status_code == 200, third.get_json()
    with container(app).unit() as db:
        jti = db.scalars(
            select(QueryLogEntry.consent_jti).where(
                QueryLogEntry.action == "institution:report:query"
            )
        ).one()
    assert jti is not None

    buyer_account = make_account(app, "buyer")
    buyer, buyer_csrf = logged_in(app, buyer_account, CARD)
    ordered = buyer.post(
        "/api/v1/archive/orders",
        json={"id_number": alice.id_number},
        headers={"X-CSRF-Token": buyer_csrf},
    )
    assert ordered.status_code == 201, ordered.get_json()
    order_id = ordered.get_json()["order"]["id"]
    cashier_account = make_account(app, "cashier.zhao", kind="staff", roles=("cashier",))
    cashier, cashier_csrf = logged_in(app, cashier_account, STAFF)
    paid = cashier.post(
        f"/api/v1/billing/orders/{order_id}/confirm",
        json={"payment_ref": "R-1"},
        headers={"X-CSRF-Token": cashier_csrf},
    )
    assert paid.status_code == 200, paid.get_json()
    archive = buyer.get(f"/api/v1/archive/orders/{order_id}/report")
    assert archive.status_code == 200, archive.get_json()
    answers = [own.get_json(), listed.get_json(), third.get_json(), archive.get_json()]
    name = own.get_json()["subject"]["name"]
    return Flows(alice, name, bank, jti, consent, order_id, answers)


def log_rows(app: Flask) -> list[QueryLogEntry]:
    with container(app).unit() as db:
        return list(db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq)))


def row_text(row: QueryLogEntry) -> str:
    """Every column of an entry as text (the blind index and hashes as hex)."""
    values = []
    for column in QueryLogEntry.__table__.columns:
        value = getattr(row, column.key)
        values.append(value.hex() if isinstance(value, bytes) else str(value))
    return "\x1f".join(values)
