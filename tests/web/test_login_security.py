"""Card login under attack: the login matrix, throttling, timing and secrets in logs.

The matrix runs every factor missing, wrong, expired, replayed or revoked; each must answer
401 with the one generic body and leave an attempt row with the precise reason. (Bad input,
which is not an attempt at all, is tested in test_mtls.py over all three login endpoints.)
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import Parameters, extract_parameters
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from app.container import container
from app.models import Account, Card
from app.models.base import utcnow
from app.services.auth.cards import revoke
from app.services.auth.login_attempts import (
    MAX_FAILURES,
    MAX_FAILURES_PER_ADDRESS,
    AttemptLog,
    Method,
    Outcome,
    Reason,
)
from app.web.identity import LOGIN_FAILED, THROTTLED
from tests.logins import argon2_verifications, expire_challenge, make_account
from tests.web.test_card_login import (
    CHALLENGE,
    LOGIN,
    PASSWORD,
    Holder,
    SoftCard,
    attempts_for,
    b64u,
    card_login,
    enrol_certificate,
    enrolled_subject,
    get_challenge,
    issue,
    live_sessions,
    login_with,
)


def _post_login(
    client: FlaskClient, holder: Holder, challenge_id: str, signature: str, address: str
) -> tuple[int, dict[str, str]]:
    response = client.post(
        LOGIN,
        json={
            "challenge_id": challenge_id,
            "username": holder.username,
            "password": holder.password,
            "signature": signature,
        },
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code, response.get_json()


# -- helpers for cards the enrolment service would refuse ------------------------------


def insert_card_row(app: Flask, account: Account, der: bytes) -> uuid.UUID:
    """Enrol a certificate the enrolment service would refuse (another CA, expired): the
    login must refuse it as well, whatever let it into the table."""
    certificate = x509.load_der_x509_certificate(der)
    key_type = "rsa-2048" if isinstance(certificate.public_key(), rsa.RSAPublicKey) else "ec-p256"
    with container(app).unit() as db:
        card = Card(
            account_id=account.id,
            thumbprint=hashlib.sha256(der).hexdigest(),
            serial=format(certificate.serial_number, "x")[:40],
            key_type=key_type,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            certificate=der,
            status="active",
        )
        db.add(card)
        db.flush()
        return card.id


def foreign_ca_certificate(username: str, card: SoftCard, *, days: int = 365) -> bytes:
    """A well-formed card certificate signed by a CA that is not the platform's."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another City Card CA")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, username)]))
        .issuer_name(ca_name)
        .public_key(card.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(ca_key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )


# -- the matrix: every factor missing, wrong, expired, replayed or revoked -------------------------


def _matrix_login(app: Flask, client: FlaskClient, holder: Holder, case: str) -> TestResponse:
    """The honest login of `holder`, with exactly the one factor that `case` names broken."""
    username, password, card = holder.username, PASSWORD, holder.card
    match case:
        case "card-revoked":
            with container(app).unit() as db:
                revoke(db, holder.card_id, "lost")
        case "card-expired" | "card-from-another-ca":
            card = SoftCard.ec()
            expired = issue(app, username, card, days=2, now=utcnow() - timedelta(days=30))
            foreign = foreign_ca_certificate(username, card)
            insert_card_row(app, holder.account, expired if case == "card-expired" else foreign)
        case "signature-by-another-key":
            card = SoftCard.ec()
        case "signature-by-another-users-card":
            card = enrolled_subject(app, "other.user").card
        case "no-card-enrolled":
            username = make_account(app, "no.card").username
        case "account-disabled":
            with container(app).unit() as db:
                db.execute(
                    update(Account).where(Account.username == username).values(status="disabled")
                )
        case "account-unknown":
            username = "ghost.user"
        case "account-is-staff":
            username = make_account(app, "registrar.li", kind="staff").username
            enrol_certificate(app, _account(app, username), issue(app, username, card))
        case "challenge-for-another-user":
            enrolled_subject(app, "victim.user")
    asked_for = "victim.user" if case == "challenge-for-another-user" else username
    challenge_id, tbs = get_challenge(client, asked_for)
    if case == "signature-over-other-bytes":
        _, tbs = get_challenge(client, username)
    signature: str | None = b64u(card.sign(tbs))
    match case:
        case "password-wrong":
            password = "Tr0ub4dor&3"
        case "password-missing":
            password = None  # the field is left out
        case "password-empty":
            password = ""
        case "signature-wrong":
            signature = b64u(bytes(range(64)))
        case "signature-missing":
            signature = None
        case "challenge-expired":
            expire_challenge(app, challenge_id)
        case "challenge-replayed":
            honest = login_with(app.test_client(), challenge_id, username, password, signature)
            assert honest.status_code == 200
        case "challenge-never-existed":
            challenge_id = b64u(uuid.uuid4().bytes * 2)[:43]
    return login_with(client, challenge_id, username, password, signature)


def _account(app: Flask, username: str) -> Account:
    with container(app).sessions() as db:
        return db.scalars(select(Account).where(Account.username == username)).one()


MATRIX = {  # case: (username whose attempt row is checked, the precise reason recorded)
    "password-wrong": ("zhou.min", "bad_password"),
    "password-missing": ("zhou.min", "bad_password"),
    "password-empty": ("zhou.min", "bad_password"),
    "signature-wrong": ("zhou.min", "bad_signature"),
    "signature-missing": ("zhou.min", "bad_signature"),
    "signature-over-other-bytes": ("zhou.min", "bad_signature"),
    "signature-by-another-key": ("zhou.min", "bad_signature"),
    "signature-by-another-users-card": ("zhou.min", "bad_signature"),
    "challenge-expired": ("zhou.min", "challenge_expired"),
    "challenge-replayed": ("zhou.min", "challenge_replayed"),
    "challenge-for-another-user": ("zhou.min", "bad_challenge"),
    "challenge-never-existed": ("zhou.min", "bad_challenge"),
    "card-revoked": ("zhou.min", "card_revoked"),
    "card-expired": ("zhou.min", "cert_expired"),
    "card-from-another-ca": ("zhou.min", "cert_invalid"),
    "no-card-enrolled": ("no.card", "no_card"),
    "account-disabled": ("zhou.min", "disabled_account"),
    "account-unknown": ("ghost.user", "unknown_account"),
    "account-is-staff": ("registrar.li", "wrong_kind"),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_login_matrix_fails_generically_and_records_the_precise_reason(
    app: Flask, case: str
) -> None:
    checked_username, reason = MATRIX[case]
    holder = enrolled_subject(app, "zhou.min")
    client = app.test_client()
    response = _matrix_login(app, client, holder, case)
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED
    assert client.get("/api/v1/auth/session").status_code == 401  # no session for this client
    last = attempts_for(app, checked_username)[-1]
    assert (last.outcome, last.reason, last.method) == ("failure", reason, "card")
    if case != "challenge-replayed":  # there the first, honest login made one
        assert live_sessions(app, holder.account) == 0


# -- throttling: per account and per address, never global -----------------------------------------


def test_five_failures_lock_the_account_even_for_the_right_password_but_nobody_else(
    app: Flask,
) -> None:
    victim = enrolled_subject(app, "victim")
    bystander = enrolled_subject(app, "bystander")
    client = app.test_client()
    honest_address = "198.51.100.1"
    challenge_id, tbs = get_challenge(
        client, "victim", environ_base={"REMOTE_ADDR": honest_address}
    )
    for index in range(5):  # a distributed guesser: a new address every time
        address = f"203.0.113.{index + 1}"
        guess = card_login(
            client, victim, password=f"guess-{index}", environ_base={"REMOTE_ADDR": address}
        )
        assert guess.status_code == 401
    status, body = _post_login(
        client, victim, challenge_id, b64u(victim.card.sign(tbs)), honest_address
    )
    assert (status, body) == (429, THROTTLED)
    last = attempts_for(app, "victim")[-1]
    assert (last.outcome, last.reason) == ("throttled", "too_many_failures")
    assert (
        client.post(
            CHALLENGE, json={"username": "victim"}, environ_base={"REMOTE_ADDR": "198.51.100.2"}
        ).status_code
        == 429
    )
    # Another user, from another address, logs in during the attack.
    other = card_login(app.test_client(), bystander, environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert other.status_code == 200


def test_a_crowded_hall_behind_one_address_is_not_locked_out_by_its_own_typos(
    app: Flask,
) -> None:
    """A service hall: every terminal shares one NAT address. Ten holders there mistype their
    passwords (twice what used to lock the whole address out); the next holder at the same
    address logs in, and each typing holder still has their own per-account tries left."""
    hall = "198.51.100.200"
    typists = [enrolled_subject(app, f"hall.typist.{index}") for index in range(10)]
    for typist in typists:
        typo = card_login(
            app.test_client(), typist, password="wrong", environ_base={"REMOTE_ADDR": hall}
        )
        assert typo.status_code == 401
    next_in_line = enrolled_subject(app, "hall.next")
    ok = card_login(app.test_client(), next_in_line, environ_base={"REMOTE_ADDR": hall})
    assert ok.status_code == 200
    again = card_login(app.test_client(), typists[0], environ_base={"REMOTE_ADDR": hall})
    assert again.status_code == 200


def test_the_address_limit_still_stops_one_address_spraying_a_hall_sized_number(
    app: Flask,
) -> None:
    """Past `MAX_FAILURES_PER_ADDRESS` failures in a minute the address waits (the count is
    what the throttle reads: here recorded directly, a hall-sized burst through the web would
    take minutes of argon2)."""
    holder = enrolled_subject(app, "sprayed.user")
    attacker = "203.0.113.66"
    log = AttemptLog(container(app).key_provider)
    with container(app).unit() as db:
        for index in range(MAX_FAILURES_PER_ADDRESS - 1):
            log.record(
                db,
                username_key=log.username_key(f"ghost.{index}"),
                account_id=None,
                method=Method.CARD,
                outcome=Outcome.FAILURE,
                reason=Reason.UNKNOWN_ACCOUNT,
                address=attacker,
                counts_for_account=False,
            )
    client = app.test_client()
    ghost = Holder(Account(username="ghost.last"), SoftCard.ec(), b"", holder.card_id)
    assert card_login(client, ghost, environ_base={"REMOTE_ADDR": attacker}).status_code == 401
    throttled = client.post(
        CHALLENGE, json={"username": holder.username}, environ_base={"REMOTE_ADDR": attacker}
    )
    assert throttled.status_code == 429
    elsewhere = card_login(app.test_client(), holder, environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert elsewhere.status_code == 200


def test_a_stranger_without_the_card_cannot_lock_the_holder_out(app: Flask) -> None:
    """Failures whose signature did not verify under the holder's card (a stranger guessing,
    from many addresses) are recorded but never count against the account."""
    holder = enrolled_subject(app, "card.holder")
    stranger_card = SoftCard.ec()
    for index in range(MAX_FAILURES * 2):
        guess = card_login(
            app.test_client(),
            holder,
            password=PASSWORD if index % 2 else f"guess-{index}",
            card=stranger_card,
            environ_base={"REMOTE_ADDR": f"203.0.113.{index + 1}"},
        )
        assert guess.status_code == 401
    recorded = attempts_for(app, "card.holder")
    assert len(recorded) == MAX_FAILURES * 2
    assert {(row.outcome, row.counts_for_account) for row in recorded} == {("failure", False)}
    assert {row.reason for row in recorded} == {"bad_password", "bad_signature"}
    holder_logs_in = card_login(
        app.test_client(), holder, environ_base={"REMOTE_ADDR": "198.51.100.9"}
    )
    assert holder_logs_in.status_code == 200


# -- an unknown username costs what a known one costs ---------------------------------------------


def test_unknown_usernames_cost_what_known_ones_cost(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed card login with a known username and one with an unknown username each make
    exactly one argon2id verification under the service's parameters (the unknown one against
    the dummy hash): the work, and so the time, does not tell which usernames exist."""
    make_account(app, "known.0")
    client = app.test_client()
    with container(app).sessions() as db:
        stored = db.scalars(select(Account.password_hash).where(Account.username == "known.0"))
        service_parameters = extract_parameters(stored.one())

    def verifications(username: str, address: str) -> list[Parameters]:
        env = {"REMOTE_ADDR": address}
        challenge_id, tbs = get_challenge(client, username, environ_base=env)
        body = {
            "challenge_id": challenge_id,
            "username": username,
            "password": "a guessed password",
            "signature": b64u(SoftCard.ec().sign(tbs)),
        }
        with argon2_verifications(monkeypatch) as made:
            response = client.post(LOGIN, json=body, environ_base=env)
        assert response.status_code == 401
        return made

    assert verifications("known.0", "192.0.2.1") == [service_parameters]
    assert verifications("unknown.0", "192.0.2.2") == [service_parameters]


# -- no secret reaches a log, even at DEBUG everywhere ---------------------------------------------


@pytest.fixture
def everything_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """DEBUG for the root and every logger, set before the app and its database connection
    exist, so that SQLAlchemy's statement and row logging is live too."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_logs_at_debug_hold_no_password_signature_session_id_or_nonce(
    everything_at_debug: pytest.LogCaptureFixture, app: Flask
) -> None:
    for name in ("creditgate", "creditgate.auth", "creditgate.cards"):  # set by the factory
        everything_at_debug.set_level(logging.DEBUG, logger=name)
    secrets_seen: list[str] = []
    ec_holder = enrolled_subject(app, "log.ec", password="ec-Secret-Passphrase-4711")
    rsa_holder = enrolled_subject(app, "log.rsa", card=SoftCard.rsa(), password="rsa-Pass-0815!")
    secrets_seen += [ec_holder.password, rsa_holder.password, "wrong-Guess-9931"]

    def attempt(holder: Holder, password: str, *, reuse: tuple[str, bytes] | None = None) -> str:
        client = app.test_client()
        challenge_id, tbs = reuse or get_challenge(client, holder.username)
        nonce = tbs.decode().split("nonce=")[1].split("\n")[0]
        raw = holder.card.sign(tbs)
        signature = b64u(raw)
        std = base64.b64encode(raw).decode()
        secrets_seen.extend([nonce, signature, signature[:24], std[-24:], raw.hex()[:32]])
        client.post(
            LOGIN,
            json={
                "challenge_id": challenge_id,
                "username": holder.username,
                "password": password,
                "signature": signature,
            },
        )
        with client.session_transaction() as cookie:
            token = cookie.get("_user_id")
        cookie_header = client.get_cookie("__Host-cg_session")
        if token:
            secrets_seen.append(token)
        if cookie_header is not None:
            secrets_seen.append(cookie_header.value)
        return challenge_id

    attempt(ec_holder, ec_holder.password)  # success, ECDSA
    attempt(rsa_holder, rsa_holder.password)  # success, RSA
    attempt(ec_holder, "wrong-Guess-9931")  # wrong password
    replay_client = app.test_client()
    replayed = get_challenge(replay_client, "log.ec")
    attempt(ec_holder, ec_holder.password, reuse=replayed)
    attempt(ec_holder, ec_holder.password, reuse=replayed)  # replay
    ghost = Holder(Account(username="log.ghost"), SoftCard.ec(), b"", ec_holder.card_id)
    attempt(ghost, "ghost-Password-1234")  # unknown account
    secrets_seen.append("ghost-Password-1234")

    records = everything_at_debug.records
    assert any(r.name.startswith("sqlalchemy.engine") for r in records)  # the check had teeth
    assert any(r.name == "creditgate.auth" for r in records)
    logged = everything_at_debug.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records
    )
    assert len(secrets_seen) > 20
    for secret in secrets_seen:
        assert secret not in logged
