"""Staff pages: the staff login (password + TOTP, plus the card the trusted proxy verified), and
the registrar's counter (enrol, issue, replace), through the real services."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import Account, QueryLogEntry
from app.services.auth.cards import enrol, issue_certificate
from crypto.keys import KeyProvider
from tests.clocks import MovableClock
from tests.conftest import make_app, make_settings
from tests.services.report_helpers import citizen_id
from tests.web.test_staff_login import enrolled_staff

PROXY = "10.9.8.1"
PASSWORD = "a long enough initial password 7"


@pytest.fixture
def app(database_url: str, key_provider: KeyProvider, clock: MovableClock, tmp_path: Path) -> Flask:
    settings = make_settings(database_url, tmp_path, trusted_proxies=("10.9.8.0/29",))
    return make_app(settings, key_provider=key_provider, clock=clock)


def _card(app: Flask, username: str) -> str:
    """A card enrolled for `username`; the certificate as nginx forwards it (escaped PEM)."""
    parts = container(app)
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    der = issue_certificate(parts.key_provider, username, spki)
    with parts.unit() as db:
        account = db.scalars(select(Account).where(Account.username == username)).one()
        enrol(db, account, der, provider=parts.key_provider)
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
    return quote(pem, safe="")


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_an_officer_logs_in_with_password_and_code(app: Flask) -> None:
    staff = enrolled_staff(app, "officer.page", "compliance")
    browser = app.test_client()
    page = browser.get("/login/staff")
    assert "No card was presented" in page.get_data(as_text=True)
    failed = browser.post(
        "/login/staff", data={"username": staff.username, "password": "wrong", "otp": staff.code()}
    )
    assert failed.status_code == 401
    assert "Login failed." in failed.get_data(as_text=True)
    done = browser.post(
        "/login/staff",
        data={"username": staff.username, "password": staff.password, "otp": staff.code()},
    )
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/review/lists")
    assert browser.get("/review/lists").status_code == 200
    assert staff.password not in done.get_data(as_text=True)


def test_a_registrar_with_the_card_works_the_counter(app: Flask) -> None:
    staff = enrolled_staff(app, "registrar.page", "registrar")
    card = _card(app, staff.username)
    browser = app.test_client()
    via_proxy = {"REMOTE_ADDR": PROXY}
    page = browser.get("/login/staff", headers={"X-SSL-Client-Cert": card}, environ_base=via_proxy)
    assert "registrar.page" in page.get_data(as_text=True)
    done = browser.post(
        "/login/staff",
        data={"username": staff.username, "password": staff.password, "otp": staff.code()},
        headers={"X-SSL-Client-Cert": card},
        environ_base=via_proxy,
    )
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/registry")
    session = browser.get("/api/v1/auth/session", environ_base=via_proxy).get_json()
    assert session["methods"] == ["card", "password", "totp"]
    csrf = session["csrf_token"]
    counter = browser.get("/registry", environ_base=via_proxy)
    assert counter.status_code == 200
    assert "enrol-form" in counter.get_data(as_text=True)
    number = citizen_id(801)
    enrolled = browser.post(
        "/registry/enrol",
        data={
            "csrf_token": csrf,
            "id_number": number,
            "name": "钱七",
            "username": "qian.qi",
            "password": PASSWORD,
        },
        environ_base=via_proxy,
    )
    text = enrolled.get_data(as_text=True)
    assert "Enrolled qian.qi" in text
    assert number not in text
    assert PASSWORD not in text
    issued = browser.post(
        "/registry/cards",
        data={"csrf_token": csrf, "username": "qian.qi", "public_key": _pem()},
        environ_base=via_proxy,
    )
    assert "BEGIN CERTIFICATE" in issued.get_data(as_text=True)
    replaced = browser.post(
        "/registry/cards/replace",
        data={"csrf_token": csrf, "username": "qian.qi", "public_key": _pem(), "reason": "lost"},
        environ_base=via_proxy,
    )
    assert "1 card(s) revoked" in replaced.get_data(as_text=True)
    with container(app).sessions() as db:
        actions = db.scalars(
            select(QueryLogEntry.action).where(QueryLogEntry.actor_ref == str(staff.account.id))
        ).all()
    assert list(actions) == [
        "registry:subject:enrol",
        "registry:card:issue",
        "registry:card:replace",
    ]


def test_a_registrar_without_the_card_is_refused_the_counter(app: Flask) -> None:
    staff = enrolled_staff(app, "registrar.nocard", "registrar")
    browser = app.test_client()
    done = browser.post(
        "/login/staff",
        data={"username": staff.username, "password": staff.password, "otp": staff.code()},
    )
    assert done.status_code == 303
    refused = browser.get("/registry")
    assert refused.status_code == 403
    assert "step_up_required" in refused.get_data(as_text=True)
