"""Enrolment: a registrar (password + TOTP + card) enrols a subject by ID number, issues their
card and replaces a lost one; a subject reports a lost card with the password alone. Every step
is a query-log entry; refusals change nothing but the log.

Card keys here are software keys (the API certifies the public key a card generated); the
`flask subjects` test puts real keys on SoftHSM2 card tokens cg-card-13 .. cg-card-16.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import Account, AuthSession, Card, QueryLogEntry, Subject
from app.models.base import utcnow
from app.services.auth.cards import verify_card_certificate
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider
from hsm.card import CardToken
from tests.logins import logged_in, make_account
from tests.services.report_helpers import Person, citizen_id, ingest
from tests.softhsm_fixtures import SoftHsmEnv

REGISTRAR_METHODS = frozenset({"password", "totp", "card"})
PASSWORD = "a long enough initial password 7"


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return spki.decode("ascii")


def _registrar(
    app: Flask, methods: frozenset[str] = REGISTRAR_METHODS
) -> tuple[FlaskClient, dict[str, str], Account]:
    account = make_account(app, f"reg{uuid.uuid4().hex[:8]}", kind="staff", roles=("registrar",))
    client, csrf = logged_in(app, account, methods)
    return client, {"X-CSRF-Token": csrf}, account


def _entries(app: Flask, action: str) -> list[QueryLogEntry]:
    with container(app).sessions() as db:
        return list(
            db.scalars(
                select(QueryLogEntry)
                .where(QueryLogEntry.action == action)
                .order_by(QueryLogEntry.seq)
            )
        )


def _bidx(app: Flask, id_number: str) -> bytes:
    return blind_index(container(app).key_provider, BlindIndexKind.CITIZEN_ID, id_number)


def _enrol(
    client: FlaskClient, headers: dict[str, str], **changes: str
) -> tuple[int, dict[str, object]]:
    body = {
        "id_number": citizen_id(101),
        "name": "王小明",
        "username": f"wxm{uuid.uuid4().hex[:6]}",
        "password": PASSWORD,
        **changes,
    }
    response = client.post("/api/v1/registry/subjects", json=body, headers=headers)
    return response.status_code, response.get_json()


def test_a_registrar_enrols_a_new_subject_and_the_step_is_logged(app: Flask) -> None:
    client, headers, registrar = _registrar(app)
    number = citizen_id(201)
    status, body = _enrol(client, headers, id_number=number, username="li.hua")
    assert status == 201, body
    assert body["username"] == "li.hua"
    assert body["new_subject"] is True
    with container(app).sessions() as db:
        account = db.scalars(select(Account).where(Account.username == "li.hua")).one()
        subject = db.get(Subject, account.subject_id)
        assert subject is not None
        assert subject.id_bidx == _bidx(app, number)
        identity = subject.unseal("identity", container(app).cipher)
        assert identity == {"id_number": number, "name": "王小明"}
        assert account.kind == "subject"
        assert account.password_hash is not None
        assert PASSWORD not in account.password_hash
    (entry,) = _entries(app, "registry:subject:enrol")
    assert (entry.decision, entry.reason) == ("allowed", "done")
    assert entry.actor_kind == "staff"
    assert entry.actor_ref == str(registrar.id)
    assert entry.subject_bidx == _bidx(app, number)
    assert number not in repr(entry.__dict__)


def test_a_subject_held_from_intake_is_enrolled_only_under_the_name_on_record(app: Flask) -> None:
    number = citizen_id(202)
    ingest(app, [Person(number, "陈 静")], today=date(2026, 12, 4))
    client, headers, _ = _registrar(app)
    status, body = _enrol(client, headers, id_number=number, name="陈晶")
    assert (status, body["error"]) == (409, "name_mismatch")
    assert "陈晶" not in body["message"]
    status, body = _enrol(client, headers, id_number=number, name="陈静", username="chen.jing")
    assert status == 201
    assert body["new_subject"] is False
    status, body = _enrol(client, headers, id_number=number, name="陈静")
    assert (status, body["error"]) == (409, "already_enrolled")
    decisions = [(e.decision, e.reason) for e in _entries(app, "registry:subject:enrol")]
    assert decisions == [
        ("denied", "name_mismatch"),
        ("allowed", "done"),
        ("denied", "already_enrolled"),
    ]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"id_number": "500103198503140012"}, "bad_id_number"),  # wrong check character
        ({"id_number": "5001031985031400"}, "bad_id_number"),
        ({"id_number": "440524188001010014"}, "implausible_id_number"),  # born 1880
        ({"name": " "}, "bad_name"),
        ({"username": "x"}, "bad_username"),
        ({"password": "qwertyuiop"}, "password_refused"),
    ],
)
def test_bad_enrolment_input_is_refused_naming_the_rule_and_stores_nothing(
    app: Flask, changes: dict[str, str], error: str
) -> None:
    client, headers, _ = _registrar(app)
    with container(app).sessions() as db:
        subjects = len(list(db.scalars(select(Subject.id))))
    status, body = _enrol(client, headers, **changes)
    assert (status, body["error"]) == (400, error)
    for value in changes.values():
        if value.strip() and len(value) > 3:
            assert value not in body["message"]
    with container(app).sessions() as db:
        assert len(list(db.scalars(select(Subject.id)))) == subjects
    (entry,) = _entries(app, "registry:subject:enrol")
    assert (entry.decision, entry.reason) == ("denied", error)


def test_only_a_registrar_with_the_card_may_enrol(app: Flask) -> None:
    weak, weak_headers, _ = _registrar(app, frozenset({"password", "totp"}))
    assert (
        weak.post("/api/v1/registry/subjects", json={}, headers=weak_headers).get_json()["error"]
        == "step_up_required"
    )
    cashier = make_account(app, "cashier.z", kind="staff", roles=("cashier",))
    client, csrf = logged_in(app, cashier, REGISTRAR_METHODS)
    response = client.post("/api/v1/registry/subjects", json={}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403
    assert app.test_client().post("/api/v1/registry/subjects", json={}).status_code == 401
    assert _entries(app, "registry:subject:enrol") == []


def test_issue_then_replace_a_lost_card(app: Flask, key_provider: KeyProvider) -> None:
    client, headers, _ = _registrar(app)
    status, _body = _enrol(client, headers, id_number=citizen_id(203), username="zhou.yu")
    assert status == 201
    issued = client.post(
        "/api/v1/registry/accounts/zhou.yu/cards", json={"public_key": _pem()}, headers=headers
    )
    assert issued.status_code == 201, issued.get_json()
    first = issued.get_json()
    der = x509.load_pem_x509_certificate(first["certificate_pem"].encode()).public_bytes(
        Encoding.DER
    )
    assert verify_card_certificate(key_provider, der, now=utcnow()).username == "zhou.yu"
    again = client.post(
        "/api/v1/registry/accounts/zhou.yu/cards", json={"public_key": _pem()}, headers=headers
    )
    assert (again.status_code, again.get_json()["error"]) == (409, "has_active_card")

    with container(app).sessions() as db:
        account = db.scalars(select(Account).where(Account.username == "zhou.yu")).one()
    holder, _ = logged_in(app, account, frozenset({"password", "card"}))
    replaced = client.post(
        "/api/v1/registry/accounts/zhou.yu/cards/replace",
        json={"public_key": _pem(), "reason": "lost"},
        headers=headers,
    )
    assert replaced.status_code == 201, replaced.get_json()
    second = replaced.get_json()
    assert (second["cards_revoked"], second["sessions_ended"]) == (1, 1)
    assert holder.get("/api/v1/auth/session").status_code == 401  # the session ended at once
    with container(app).sessions() as db:
        cards = {
            c.thumbprint: c.status
            for c in db.scalars(select(Card).where(Card.account_id == account.id))
        }
    assert cards == {first["thumbprint"]: "revoked", second["thumbprint"]: "active"}
    nobody = client.post(
        "/api/v1/registry/accounts/nobody.here/cards", json={"public_key": _pem()}, headers=headers
    )
    assert (nobody.status_code, nobody.get_json()["error"]) == (404, "no_such_subject")
    bad_key = client.post(
        "/api/v1/registry/accounts/zhou.yu/cards",
        json={"public_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
        headers=headers,
    )
    assert bad_key.status_code == 400
    assert [e.decision for e in _entries(app, "registry:card:issue")] == [
        "allowed",
        "denied",
        "denied",
    ]
    assert [e.decision for e in _entries(app, "registry:card:replace")] == ["allowed"]


def test_a_subject_reports_a_lost_card_with_the_password_alone(app: Flask) -> None:
    client, headers, _ = _registrar(app)
    number = citizen_id(204)
    _enrol(client, headers, id_number=number, username="sun.li")
    client.post(
        "/api/v1/registry/accounts/sun.li/cards", json={"public_key": _pem()}, headers=headers
    )
    with container(app).sessions() as db:
        account = db.scalars(select(Account).where(Account.username == "sun.li")).one()
    holder, _ = logged_in(app, account, frozenset({"password", "card"}))
    anyone = app.test_client()
    wrong = anyone.post(
        "/api/v1/self/cards/report-lost", json={"username": "sun.li", "password": "not it at all"}
    )
    assert (wrong.status_code, wrong.get_json()["error"]) == (401, "login_failed")
    assert holder.get("/api/v1/auth/session").status_code == 200
    done = anyone.post(
        "/api/v1/self/cards/report-lost", json={"username": "sun.li", "password": PASSWORD}
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"status": "cards_revoked", "cards_revoked": 1, "sessions_ended": 1}
    assert holder.get("/api/v1/auth/session").status_code == 401
    with container(app).sessions() as db:
        assert {
            c.status for c in db.scalars(select(Card).where(Card.account_id == account.id))
        } == {"revoked"}
        live = db.scalars(
            select(AuthSession).where(
                AuthSession.account_id == account.id, AuthSession.ended_at.is_(None)
            )
        ).all()
        assert live == []
    logged = _entries(app, "auth:card:report_lost")
    assert [(e.decision, e.reason, e.actor_kind) for e in logged] == [
        ("denied", "bad_password", "anonymous"),
        ("allowed", "done", "subject"),
    ]
    assert {e.subject_bidx for e in logged} == {_bidx(app, number)}
    assert "not it at all" not in repr([e.__dict__ for e in logged])


def test_the_lost_card_page_reports_and_never_echoes_the_password(app: Flask) -> None:
    client, headers, _ = _registrar(app)
    _enrol(client, headers, id_number=citizen_id(205), username="he.ping")
    browser = app.test_client()
    page = browser.get("/card/lost")
    assert page.status_code == 200
    assert "挂失智能卡" in page.get_data(as_text=True)
    failed = browser.post("/card/lost", data={"username": "he.ping", "password": "wrong one"})
    assert failed.status_code == 401
    assert "wrong one" not in failed.get_data(as_text=True)
    done = browser.post("/card/lost", data={"username": "he.ping", "password": PASSWORD})
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert 'id="lost-status"' in text
    assert PASSWORD not in text


def _backend(database_url: str, sqlite: str, postgres: str) -> str:
    return sqlite if database_url.startswith("sqlite") else postgres


def test_flask_subjects_enrol_issue_and_replace_on_real_cards(
    app: Flask, softhsm_env: SoftHsmEnv, database_url: str, tmp_path: Path
) -> None:
    first = _backend(database_url, "cg-card-13", "cg-card-14")
    second = _backend(database_url, "cg-card-15", "cg-card-16")
    make_account(app, "reg.cli", kind="staff", roles=("registrar",))
    make_account(app, "cashier.cli", kind="staff", roles=("cashier",))
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm_env.pin + "\n")
    env = {
        "CREDITGATE_NEW_PASSWORD_FILE": str(password_file),
        "CREDITGATE_CARD_PIN_FILE": str(pin_file),
    }
    runner = app.test_cli_runner()
    number = citizen_id(206)
    not_registrar = runner.invoke(
        args=["subjects", "enrol", "--registrar", "cashier.cli", "--username", "ma.li"],
        input=f"{number}\n马丽\n",
        env=env,
    )
    assert not_registrar.exit_code == 1
    assert "does not hold the registrar role" in not_registrar.output
    enrolled = runner.invoke(
        args=["subjects", "enrol", "--registrar", "reg.cli", "--username", "ma.li"],
        input=f"{number}\n马丽\n",
        env=env,
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert "enrolled ma.li (new subject)" in enrolled.output
    assert number not in enrolled.output
    assert PASSWORD not in enrolled.output
    card_args = ["--registrar", "reg.cli", "--username", "ma.li", "--module", softhsm_env.module]
    issued = runner.invoke(
        args=["subjects", "issue-card", *card_args, "--token-label", first], env=env
    )
    assert issued.exit_code == 0, issued.output
    assert softhsm_env.pin not in issued.output
    on_card = CardToken(softhsm_env.module, first).certificate()
    assert x509.load_der_x509_certificate(on_card).subject.rfc4514_string() == "CN=ma.li"
    replaced = runner.invoke(
        args=["subjects", "replace-card", *card_args, "--token-label", second, "--reason", "lost"],
        env=env,
    )
    assert replaced.exit_code == 0, replaced.output
    assert "revoked     1 card(s) (lost)" in replaced.output
    with container(app).sessions() as db:
        account = db.scalars(select(Account).where(Account.username == "ma.li")).one()
        statuses = sorted(
            c.status for c in db.scalars(select(Card).where(Card.account_id == account.id))
        )
    assert statuses == ["active", "revoked"]
    actions = [
        e.action
        for e in _entries(app, "registry:card:issue") + _entries(app, "registry:card:replace")
    ]
    assert actions == ["registry:card:issue", "registry:card:replace"]
