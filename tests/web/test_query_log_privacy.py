"""The query log never holds what it records the release of (ARCHITECTURE §7).

A subject reads their own report and who looked at them, searches the public lists by ID and
by name, and an institution queries the subject under a consent token. Afterwards no column of
any log entry holds the subject's ID number, name, any released field value, the consent token,
the session cookie or the CSRF token; the subject appears only as the 32-byte blind index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry
from tests.consent_helpers import ingest_subjects, signer_for, token_for
from tests.logins import logged_in
from tests.web.oauth_helpers import ec_key, get_token, register

CARD = frozenset({"password", "card"})
PURPOSE = "loan_approval"


def _values(tree: Any) -> Iterator[str]:
    """Every released field value in an answer: the values of each record's `fields`."""
    if isinstance(tree, dict):
        if isinstance(tree.get("fields"), dict):
            for value in tree["fields"].values():
                if isinstance(value, str | int) and not isinstance(value, bool):
                    yield str(value)
        for value in tree.values():
            yield from _values(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _values(value)


def test_no_log_entry_holds_an_id_number_a_name_or_a_released_value(app: Flask) -> None:
    (synthetic,) = ingest_subjects(app, 1)
    alice = signer_for(app, synthetic, "alice")
    client, csrf = logged_in(app, alice.account, CARD)
    headers = {"X-CSRF-Token": csrf}

    own = client.post("/api/v1/self/reports", json={}, headers=headers)
    assert own.status_code == 200, own.get_json()
    report = own.get_json()
    name = report["subject"]["name"]
    assert report["subject"]["id_number"] == synthetic.id_number
    assert client.get("/api/v1/self/query-records").status_code == 200
    by_id = client.post(
        "/api/v1/public/lists/search", json={"id_number": synthetic.id_number}, headers=headers
    )
    by_name = client.post("/api/v1/public/lists/search", json={"name": name}, headers=headers)
    assert (by_id.status_code, by_name.status_code) == (200, 200)

    key = ec_key()
    bank = register(app, key)
    institution = app.test_client()
    bearer = get_token(institution, key, bank)
    from app.models import Institution
    from app.services.billing.ledger import LedgerService

    with container(app).unit() as db:
        bank_id = db.scalars(select(Institution.id).where(Institution.client_id == bank)).one()
        LedgerService().top_up(
            db, institution_id=bank_id, amount_fen=10_000, reference="T1", created_by="cashier"
        )
    consent = token_for(alice, bank, PURPOSE, scope=("A", "B", "C", "D"))
    third_party = institution.post(
        "/api/v1/institution/reports",
        json={"id_number": synthetic.id_number, "purpose": PURPOSE, "consent_token": consent},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert third_party.status_code == 200, third_party.get_json()

    released = {
        value
        for answer in (report, by_id.get_json(), by_name.get_json(), third_party.get_json())
        for value in _values(answer)
        if len(value) >= 6 and "*" not in value  # masked values hide what they mask
    }
    secrets_seen = {synthetic.id_number, name, consent, csrf, bearer}
    cookie = client.get_cookie("__Host-cg_session")
    assert cookie is not None
    secrets_seen.add(cookie.value)

    with container(app).sessions() as db:
        rows = list(db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq)))
    assert len(rows) >= 5
    about_alice = [row for row in rows if row.subject_bidx is not None]
    assert about_alice
    assert all(len(row.subject_bidx or b"") == 32 for row in about_alice)
    for row in rows:
        text_columns = [
            str(getattr(row, column.key))
            for column in QueryLogEntry.__table__.columns
            if column.key not in {"subject_bidx", "prev_hash", "entry_hash", "fields_released"}
        ]
        blob = "\x1f".join(text_columns)
        names = set(row.fields_released.split(",")) if row.fields_released else set()
        assert all(name.count(".") in (1, 2) for name in names), names
        for secret in secrets_seen:
            assert secret not in blob, f"entry {row.seq} holds a secret or an identifier"
            assert secret not in row.fields_released
        leaked = sorted(value for value in released if value in blob)
        assert leaked == [], f"entry {row.seq} holds released values {leaked}"
