"""Card certificates on the real SoftHSM2 card CA key: issue, verify, enrol, revoke; `flask cards`.

Card keys for the certificate tests are software keys (the service never sees where a key
lives); the `flask cards` tests put real keys on pre-created SoftHSM2 card tokens: this module
owns cg-card-5, cg-card-6 (EC, one per database backend) and cg-card-9, cg-card-10 (RSA).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from flask.testing import FlaskClient

from app.container import container
from app.models import Account, Card
from app.models.base import utcnow
from app.services.auth.cards import (
    RSA_2048_CUTOFF,
    CardNotFound,
    CertificateRejected,
    EnrolmentError,
    UnsupportedKey,
    active_cards,
    ca_certificate,
    enrol,
    issue_certificate,
    revoke,
    verify_card_certificate,
)
from app.services.auth.sessions import SessionService
from crypto.keys import KeyProvider
from hsm.card import CardToken
from tests.logins import make_account
from tests.softhsm_fixtures import SoftHsmEnv
from tests.web.review_helpers import found, officer

SESSION_METHODS = frozenset({"password", "card"})


def _spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _rejected(provider: KeyProvider, der: bytes, now: datetime | None = None) -> str:
    with pytest.raises(CertificateRejected) as caught:
        verify_card_certificate(provider, der, now=now or utcnow())
    return caught.value.reason


# ------------------------------------------------------------------ certificates


def test_an_issued_card_certificate_verifies_and_chains_to_the_ca_certificate(
    key_provider: KeyProvider, tmp_path: Path
) -> None:
    key = _ec_key()
    now = utcnow()
    der = issue_certificate(key_provider, "zhang.wei", _spki(key), now=now)
    card = verify_card_certificate(key_provider, der, now=now)
    assert (card.username, card.key_type) == ("zhang.wei", "ec-p256")
    assert card.thumbprint == hashlib.sha256(der).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{32}", card.serial)
    assert card.public_key_der == _spki(key)
    assert abs(card.not_before - (now - timedelta(minutes=1))).total_seconds() < 1
    assert card.not_after - card.not_before == timedelta(days=3 * 365, minutes=1)

    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.rfc4514_string() == "CN=zhang.wei"
    assert cert.issuer.rfc4514_string() == "CN=CreditGate Card CA,O=CreditGate,C=CN"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert not constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())

    ca = x509.load_der_x509_certificate(ca_certificate(key_provider))
    cert.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    # What a TLS proxy does with `ssl_client_certificate`: OpenSSL accepts it for client auth.
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    (tmp_path / "card.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    openssl = shutil.which("openssl")
    assert openssl is not None
    checked = subprocess.run(
        [openssl, "verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "card.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.stdout.strip() == "card.pem: OK", checked.stderr


def test_rsa_2048_cards_certified_before_the_cut_off_stay_valid_and_no_new_ones_are_issued(
    key_provider: KeyProvider,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    before = RSA_2048_CUTOFF - timedelta(days=1)
    der = issue_certificate(key_provider, "li.na", _spki(key), days=400, now=before)
    card = verify_card_certificate(key_provider, der, now=utcnow())
    assert card.key_type == "rsa-2048"
    assert card.not_after - card.not_before == timedelta(days=400, minutes=1)
    with pytest.raises(UnsupportedKey, match="P-256"):
        issue_certificate(key_provider, "li.na", _spki(key), now=RSA_2048_CUTOFF)
    for weak in (
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=3072),
    ):
        with pytest.raises(UnsupportedKey):
            issue_certificate(key_provider, "li.na", _spki(weak))
    with pytest.raises(UnsupportedKey):
        issue_certificate(key_provider, "li.na", b"\x30\x00")


def _foreign_certificate(username: str) -> bytes:
    """Everything right (even the issuer's name) except the signer: another CA's key."""
    other_ca = _ec_key()
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CreditGate"),
            x509.NameAttribute(NameOID.COMMON_NAME, "CreditGate Card CA"),
        ]
    )
    now = utcnow()
    card_key = _ec_key().public_key()
    cert = (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, username)]))
        .public_key(card_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(other_ca, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def test_a_certificate_from_another_ca_or_altered_is_not_ours(key_provider: KeyProvider) -> None:
    assert _rejected(key_provider, _foreign_certificate("zhang.wei")) == "not_ours"
    der = issue_certificate(key_provider, "zhang.wei", _spki(_ec_key()))
    altered = der.replace(b"zhang.wei", b"zhang.wee")  # a different holder, same signature
    assert altered != der
    assert _rejected(key_provider, altered) == "not_ours"


def test_expired_and_not_yet_valid_certificates_are_refused(key_provider: KeyProvider) -> None:
    spki = _spki(_ec_key())
    old = issue_certificate(
        key_provider, "chen.jie", spki, days=1, now=utcnow() - timedelta(days=3)
    )
    assert _rejected(key_provider, old) == "expired"
    future = issue_certificate(key_provider, "chen.jie", spki, now=utcnow() + timedelta(days=2))
    assert _rejected(key_provider, future) == "not_yet_valid"
    card = verify_card_certificate(key_provider, old, now=utcnow() - timedelta(days=2, hours=12))
    assert verify_card_certificate(key_provider, old, now=card.not_after).thumbprint
    assert _rejected(key_provider, old, now=card.not_after + timedelta(seconds=1)) == "expired"


def test_garbage_and_ca_certificates_are_refused_with_their_reason(
    key_provider: KeyProvider,
) -> None:
    der = issue_certificate(key_provider, "huang.min", _spki(_ec_key()))
    for junk in (b"", b"not a certificate", der[:-1], der + b"\x00", b"\x30" * 20_000):
        assert _rejected(key_provider, junk) == "malformed"
    # Our own CA certificate is signed by us and valid, but it is not a card certificate.
    assert _rejected(key_provider, ca_certificate(key_provider)) == "wrong_usage"


# ------------------------------------------------------------------ enrolment and revocation


def _enrol(app: Flask, account: Account, der: bytes, provider: KeyProvider) -> Card:
    with container(app).unit() as db:
        holder = db.get(Account, account.id)
        assert holder is not None
        return enrol(db, holder, der, provider=provider)


def test_enrol_records_the_card_and_refuses_what_does_not_belong(
    app: Flask, key_provider: KeyProvider
) -> None:
    account = make_account(app, "li.qiang")
    der = issue_certificate(key_provider, "li.qiang", _spki(_ec_key()))
    card = _enrol(app, account, der, key_provider)
    assert card.thumbprint == hashlib.sha256(der).hexdigest()
    assert (card.status, card.key_type, card.certificate) == ("active", "ec-p256", der)
    with container(app).unit() as db:
        assert [c.id for c in active_cards(db, account.id)] == [card.id]

    with pytest.raises(EnrolmentError, match="enrolled already"):
        _enrol(app, account, der, key_provider)
    someone_else = issue_certificate(key_provider, "zhou.min", _spki(_ec_key()))
    with pytest.raises(EnrolmentError, match=r"not for 'li\.qiang'"):
        _enrol(app, account, someone_else, key_provider)
    bank = make_account(app, "bank.one", kind="institution")
    with pytest.raises(EnrolmentError, match="cannot hold a card"):
        _enrol(
            app, bank, issue_certificate(key_provider, "bank.one", _spki(_ec_key())), key_provider
        )
    with pytest.raises(CertificateRejected):
        _enrol(app, account, _foreign_certificate("li.qiang"), key_provider)
    with container(app).unit() as db:
        assert len(active_cards(db, account.id)) == 1


def _client_with_session(app: Flask, account: Account, card_id: uuid.UUID | None) -> FlaskClient:
    with container(app).unit() as db:
        holder = db.get(Account, account.id)
        assert holder is not None
        token = SessionService().start(db, holder, SESSION_METHODS, card_id=card_id)
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = token
        cookie["_fresh"] = True
    return client


def test_revoking_a_card_ends_every_session_of_its_account_and_no_one_elses(
    app: Flask, key_provider: KeyProvider
) -> None:
    account = make_account(app, "wang.lei")
    lost = _enrol(
        app, account, issue_certificate(key_provider, "wang.lei", _spki(_ec_key())), key_provider
    )
    kept = _enrol(
        app, account, issue_certificate(key_provider, "wang.lei", _spki(_ec_key())), key_provider
    )
    on_lost = [_client_with_session(app, account, lost.id) for _ in range(2)]
    on_kept = _client_with_session(app, account, kept.id)
    bystander = make_account(app, "zhao.min")
    elsewhere = _client_with_session(app, bystander, None)
    for client in [*on_lost, on_kept, elsewhere]:
        assert client.get("/api/v1/auth/session").status_code == 200

    with container(app).unit() as db:
        done = revoke(db, lost.thumbprint.upper(), "lost")
    assert (done.newly_revoked, done.sessions_ended) == (True, 3)
    for client in [*on_lost, on_kept]:
        assert client.get("/api/v1/auth/session").status_code == 401
    assert elsewhere.get("/api/v1/auth/session").status_code == 200
    with container(app).unit() as db:
        row = db.get(Card, lost.id)
        assert row is not None
        assert row.status == "revoked"
        assert row.revoked_at is not None
        assert [c.id for c in active_cards(db, account.id)] == [kept.id]
        again = revoke(db, lost.id, "lost")
        assert (again.newly_revoked, again.sessions_ended) == (False, 0)
        with pytest.raises(CardNotFound):
            revoke(db, "0" * 64, "lost")
        with pytest.raises(ValueError, match="reason must be one of"):
            revoke(db, kept.id, "because")


# ------------------------------------------------------------------ flask cards


def _backend_card(database_url: str, sqlite_label: str, postgres_label: str) -> str:
    return sqlite_label if database_url.startswith("sqlite") else postgres_label


def test_flask_cards_issue_list_revoke_on_a_real_card(
    app: Flask,
    softhsm_env: SoftHsmEnv,
    key_provider: KeyProvider,
    database_url: str,
    tmp_path: Path,
) -> None:
    label = _backend_card(database_url, "cg-card-5", "cg-card-6")
    make_account(app, "zhao.lei")
    pin_file = tmp_path / "card-pin"
    pin_file.write_text(softhsm_env.pin + "\n")
    runner = app.test_cli_runner()
    env = {"CREDITGATE_CARD_PIN_FILE": str(pin_file)}
    args = ["cards", "issue", "--account", "zhao.lei", "--module", softhsm_env.module]
    issued = runner.invoke(args=[*args, "--token-label", label], env=env)
    assert issued.exit_code == 0, issued.output
    assert f"issued card '{label}' to 'zhao.lei'" in issued.output
    assert softhsm_env.pin not in issued.output
    thumbprint = re.search(r"thumbprint\s+([0-9a-f]{64})", issued.output)
    assert thumbprint is not None

    card = CardToken(softhsm_env.module, label)
    on_card = card.certificate()
    assert hashlib.sha256(on_card).hexdigest() == thumbprint.group(1)
    verified = verify_card_certificate(key_provider, on_card, now=utcnow())
    assert verified.username == "zhao.lei"
    public = x509.load_der_x509_certificate(on_card).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    raw = card.sign(softhsm_env.pin, b"challenge")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    public.verify(encode_dss_signature(r, s), b"challenge", ec.ECDSA(hashes.SHA256()))

    again = runner.invoke(args=[*args, "--token-label", label], env=env)
    assert again.exit_code == 1
    assert "already holds a CreditGate key; use a blank card" in again.output
    listed = runner.invoke(args=["cards", "list", "--account", "zhao.lei"])
    assert f"{thumbprint.group(1)}  ec-p256   active" in listed.output
    revoked = runner.invoke(args=["cards", "revoke", "--thumbprint", thumbprint.group(1)])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked; 0 live session(s) ended" in revoked.output
    assert " revoked " in runner.invoke(args=["cards", "list", "--account", "zhao.lei"]).output
    unknown = runner.invoke(args=["cards", "revoke", "--thumbprint", "ab" * 32])
    assert unknown.exit_code == 1
    assert "no enrolled card has that thumbprint" in unknown.output
    # issuing and revoking are entries an officer finds (who watches the watchers)
    wu = officer(app)
    assert [(e["decision"], e["reason"]) for e in found(wu, action="operator:card:issue")] == [
        ("allowed", "issued")
    ]
    revocations = found(wu, action="operator:card:revoke")
    assert [(e["decision"], e["reason"]) for e in revocations] == [
        ("denied", "not_found"),
        ("allowed", "revoked_holder_request"),
    ]


def test_flask_cards_issue_asks_the_pin_hidden_and_a_wrong_pin_leaves_the_card_blank(
    app: Flask, softhsm_env: SoftHsmEnv, database_url: str
) -> None:
    label = _backend_card(database_url, "cg-card-9", "cg-card-10")
    make_account(app, "sun.li")
    runner = app.test_cli_runner()
    args = ["cards", "issue", "--account", "sun.li", "--module", softhsm_env.module]
    refused = runner.invoke(
        args=[*args, "--token-label", label, "--key-type", "rsa-2048"], input="x\n"
    )
    assert refused.exit_code == 1
    assert "new cards carry ECDSA P-256 keys" in refused.output
    args += ["--token-label", label, "--key-type", "ec-p256", "--days", "400"]
    wrong = runner.invoke(args=args, input="12345678\n")
    assert wrong.exit_code == 1
    assert f"Wrong PIN for card '{label}'." in wrong.output
    assert "12345678" not in wrong.output  # the prompt is hidden
    issued = runner.invoke(args=args, input=softhsm_env.pin + "\n")
    assert issued.exit_code == 0, issued.output
    assert "Card user PIN:" in issued.output
    assert softhsm_env.pin not in issued.output
    assert "ec-p256" in issued.output
    public = x509.load_der_x509_certificate(CardToken(softhsm_env.module, label).certificate())
    assert isinstance(public.public_key(), ec.EllipticCurvePublicKey)
    nobody = runner.invoke(args=["cards", "issue", "--account", "nobody", *args[4:]])
    assert nobody.exit_code == 1
    assert "no account named 'nobody'" in nobody.output
    assert "PIN" not in nobody.output  # refused before the card or its PIN is touched


def test_flask_cards_ca_cert_prints_the_ca_certificate(app: Flask) -> None:
    printed = app.test_cli_runner().invoke(args=["cards", "ca-cert"])
    assert printed.exit_code == 0
    ca = x509.load_pem_x509_certificate(printed.output.encode())
    assert ca.subject == ca.issuer
    assert ca.subject.rfc4514_string() == "CN=CreditGate Card CA,O=CreditGate,C=CN"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
