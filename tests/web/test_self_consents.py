"""The subject's consent API: register, list, revoke (and `subject_ref` in the session)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import Institution
from app.services.billing.ledger import LedgerService
from tests.consent_helpers import (
    Signer,
    claims_for,
    ingest_subjects,
    purposes,
    sign_token,
    signer_for,
    token_for,
)
from tests.logins import logged_in, make_account
from tests.web.oauth_helpers import ec_key, get_token, register

CONSENTS = "/api/v1/self/consents"


@pytest.fixture
def world(app: Flask) -> tuple[Signer, Signer, str, str]:
    purpose = purposes(app)[0]
    alice, bob = ingest_subjects(app, 2)
    return (
        signer_for(app, alice, "alice"),
        signer_for(app, bob, "bob"),
        register(app, ec_key()),
        purpose,
    )


def card_client(app: Flask, signer: Signer) -> tuple[FlaskClient, dict[str, str]]:
    client, csrf = logged_in(app, signer.account, frozenset({"password", "card"}))
    return client, {"X-CSRF-Token": csrf}


def test_the_session_names_the_subject_ref_that_tokens_must_carry(
    app: Flask, world: tuple[Signer, Signer, str, str]
) -> None:
    alice, *_ = world
    client, _ = card_client(app, alice)
    assert client.get("/api/v1/auth/session").get_json()["subject_ref"] == str(alice.subject_id)
    staff = make_account(app, "cashier1", kind="staff", roles=("cashier",))
    staff_client, _ = logged_in(app, staff, frozenset({"password", "totp"}))
    assert "subject_ref" not in staff_client.get("/api/v1/auth/session").get_json()


def test_register_list_and_revoke(app: Flask, world: tuple[Signer, Signer, str, str]) -> None:
    alice, bob, bank, purpose = world
    client, csrf = card_client(app, alice)
    token = token_for(alice, bank, purpose, max_uses=3, scope=("B", "A"))
    created = client.post(CONSENTS, json={"token": token}, headers=csrf)
    assert created.status_code == 201, created.get_json()
    consent = created.get_json()["consent"]
    assert consent["institution"] == bank
    assert (consent["purpose"], consent["scope"], consent["uses"], consent["max_uses"]) == (
        purpose,
        ["A", "B"],
        0,
        3,
    )
    assert consent["status"] == "active"
    assert token not in created.get_data(as_text=True)
    assert client.post(CONSENTS, json={"token": token}, headers=csrf).status_code == 200
    listed = client.get(CONSENTS).get_json()["consents"]
    assert [c["jti"] for c in listed] == [consent["jti"]]

    bob_client, bob_csrf = card_client(app, bob)
    assert bob_client.get(CONSENTS).get_json()["consents"] == []
    # Bob cannot touch Alice's consent, nor learn that it exists: his revocation of its jti
    # binds only tokens he signed, and reads like one of a jti never seen.
    stolen = bob_client.post(f"{CONSENTS}/{consent['jti']}/revoke", headers=bob_csrf)
    assert stolen.status_code == 200
    nothing = bob_client.post(f"{CONSENTS}/no-such-jti-at-all-here/revoke", headers=bob_csrf)
    assert nothing.status_code == 200
    assert stolen.get_json()["consent"] is None
    assert nothing.get_json()["consent"] is None
    assert set(stolen.get_json()["revocation"]) == set(nothing.get_json()["revocation"])
    assert client.get(CONSENTS).get_json()["consents"][0]["revoked"] is False
    assert client.post(f"{CONSENTS}/not a jti/revoke", headers=csrf).status_code == 400
    assert client.post(f"{CONSENTS}/short/revoke", headers=csrf).status_code == 400

    revoked = client.post(f"{CONSENTS}/{consent['jti']}/revoke", headers=csrf)
    assert revoked.status_code == 200
    assert revoked.get_json()["consent"]["status"] == "revoked"
    assert revoked.get_json()["revocation"]["jti"] == consent["jti"]
    assert client.get(CONSENTS).get_json()["consents"][0]["revoked"] is True
    again = client.post(f"{CONSENTS}/{consent['jti']}/revoke", headers=csrf)
    assert again.get_json()["revocation"] == revoked.get_json()["revocation"]  # the first stands


@pytest.fixture
def bank(app: Flask) -> tuple[str, str]:
    """A topped-up institution allowed to query reports: (client id, bearer token)."""
    key = ec_key()
    client_id = register(app, key)
    bearer = get_token(app.test_client(), key, client_id)
    with container(app).unit() as db:
        bank_id = db.scalars(select(Institution.id).where(Institution.client_id == client_id)).one()
        LedgerService().top_up(
            db, institution_id=bank_id, amount_fen=10_000, reference="T1", created_by="cashier"
        )
    return client_id, bearer


def _institution_asks(app: Flask, bearer: str, signer: Signer, token: str) -> tuple[int, str]:
    body = {"id_number": signer.id_number, "purpose": "loan_approval", "consent_token": token}
    response = app.test_client().post(
        "/api/v1/institution/reports", json=body, headers={"Authorization": f"Bearer {bearer}"}
    )
    return response.status_code, str(response.get_json().get("error", ""))


def test_a_token_never_registered_is_revoked_before_its_first_use(
    app: Flask, world: tuple[Signer, Signer, str, str], bank: tuple[str, str]
) -> None:
    """The subject signed a token and gave it straight to the bank; they change their mind
    before the bank uses it: the bank's query with it is refused as revoked."""
    alice, _, _, _ = world
    client_id, bearer = bank
    claims = claims_for(alice, client_id, "loan_approval")
    token = sign_token(alice.card, alice.kid, claims)
    client, csrf = card_client(app, alice)
    revoked = client.post(f"{CONSENTS}/{claims['jti']}/revoke", headers=csrf)
    assert revoked.status_code == 200
    assert revoked.get_json()["consent"] is None
    assert revoked.get_json()["revocation"]["jti"] == claims["jti"]
    assert _institution_asks(app, bearer, alice, token) == (403, "revoked")
    # nor can the subject register it afterwards, and it never shows as a live consent
    registered = client.post(CONSENTS, json={"token": token}, headers=csrf)
    assert (registered.status_code, registered.get_json()["error"]) == (400, "revoked")
    assert client.get(CONSENTS).get_json()["consents"] == []


def test_another_subject_revoking_the_jti_does_not_stop_the_token(
    app: Flask, world: tuple[Signer, Signer, str, str], bank: tuple[str, str]
) -> None:
    alice, bob, _, _ = world
    client_id, bearer = bank
    claims = claims_for(alice, client_id, "loan_approval")
    token = sign_token(alice.card, alice.kid, claims)
    bob_client, bob_csrf = card_client(app, bob)
    assert (
        bob_client.post(f"{CONSENTS}/{claims['jti']}/revoke", headers=bob_csrf).status_code == 200
    )
    assert _institution_asks(app, bearer, alice, token) == (200, "")


@pytest.mark.parametrize(
    "case", ["someone_elses_token", "another_sub", "unknown_institution", "garbage", "no_token"]
)
def test_tokens_the_subject_did_not_sign_for_themselves_are_refused(
    app: Flask, world: tuple[Signer, Signer, str, str], case: str
) -> None:
    alice, bob, bank, purpose = world
    client, csrf = card_client(app, alice)
    body: dict[str, object] = {
        "someone_elses_token": {"token": token_for(bob, bank, purpose)},
        "another_sub": {"token": token_for(alice, bank, purpose, sub=str(bob.subject_id))},
        "unknown_institution": {"token": token_for(alice, "inst-nobody", purpose)},
        "garbage": {"token": "a.b.c"},
        "no_token": {"tok": "x"},
    }[case]
    expected = {
        "someone_elses_token": "unknown_card",
        "another_sub": "wrong_subject",
        "unknown_institution": "unknown_institution",
        "garbage": "malformed",
        "no_token": "bad_request",
    }[case]
    response = client.post(CONSENTS, json=body, headers=csrf)
    assert response.status_code == 400
    assert response.get_json()["error"] == expected
    assert client.get(CONSENTS).get_json()["consents"] == []


def test_a_jti_registered_under_other_bytes_is_a_conflict(
    app: Flask, world: tuple[Signer, Signer, str, str]
) -> None:
    alice, _, bank, purpose = world
    client, csrf = card_client(app, alice)
    first = token_for(alice, bank, purpose, jti="jti-0123456789abcdef")
    second = token_for(alice, bank, purpose, jti="jti-0123456789abcdef", max_uses=1)
    assert client.post(CONSENTS, json={"token": first}, headers=csrf).status_code == 201
    again = client.post(CONSENTS, json={"token": second}, headers=csrf)
    assert (again.status_code, again.get_json()["error"]) == (409, "replayed")


def test_only_a_card_session_of_a_subject_and_with_csrf_may_manage_consents(
    app: Flask, world: tuple[Signer, Signer, str, str]
) -> None:
    alice, _, bank, purpose = world
    weak, csrf = logged_in(app, alice.account, frozenset({"password"}))
    token = token_for(alice, bank, purpose)
    refused = weak.post(CONSENTS, json={"token": token}, headers={"X-CSRF-Token": csrf})
    assert (refused.status_code, refused.get_json()["error"]) == (403, "step_up_required")
    client, _ = card_client(app, alice)
    assert client.post(CONSENTS, json={"token": token}).status_code == 403  # no CSRF token
    assert app.test_client().get(CONSENTS).status_code == 401
