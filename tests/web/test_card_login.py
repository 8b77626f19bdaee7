"""Smart-card challenge-response login: the contract of ARCHITECTURE §5, single use, sessions.

The card is a software key pair here (`SoftCard`): the server only ever sees public keys and
signatures, so this is an honest stand-in; the certificates are real ones from the service's
card-issuing CA in SoftHSM2 (`issue_certificate`). The real-card path (SoftHSM2 tokens and
pkcs11-tool) is tested with card issuance.

The helpers at the top are shared with `test_login_security.py` and `test_mtls.py`; the login
matrix is in `test_login_security.py`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, Type
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from app.container import container
from app.models import Account, AuthSession, LoginAttempt, LoginChallenge
from app.models.base import utcnow
from app.services.auth.cards import RSA_2048_CUTOFF, enrol, issue_certificate, revoke
from app.services.auth.login_attempts import AttemptLog
from app.services.auth.sessions import SessionService
from tests.logins import logged_in, make_account

PASSWORD = "correct horse battery staple"
CHALLENGE = "/api/v1/auth/challenge"
LOGIN = "/api/v1/auth/login"


# -- shared helpers --------------------------------------------------------------------------------


@dataclass
class SoftCard:
    """A card key pair in software; `sign` does what the card + host do (§5 step 2)."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def ec(cls) -> SoftCard:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def rsa(cls) -> SoftCard:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_key_der(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes, *, form: str = "raw") -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        der = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        if form == "der":
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass
class Holder:
    """A subject account with an enrolled card."""

    account: Account
    card: SoftCard
    certificate: bytes
    card_id: uuid.UUID
    password: str = PASSWORD

    @property
    def username(self) -> str:
        return self.account.username


def issue(app: Flask, username: str, card: SoftCard, **kwargs: object) -> bytes:
    provider = container(app).key_provider
    if isinstance(card.key, rsa.RSAPrivateKey):  # RSA-2048 cards: only certified before the cut-off
        kwargs.setdefault("now", RSA_2048_CUTOFF - timedelta(days=1))
    return issue_certificate(
        provider, username=username, public_key_der=card.public_key_der(), **kwargs
    )  # type: ignore[arg-type]


def enrol_certificate(app: Flask, account: Account, der: bytes) -> uuid.UUID:
    with container(app).unit() as db:
        card = enrol(db, db.get(Account, account.id), der, provider=container(app).key_provider)
        return card.id


def enrolled_subject(
    app: Flask, username: str, *, card: SoftCard | None = None, password: str = PASSWORD
) -> Holder:
    account = make_account(app, username, password=password)
    card = card if card is not None else SoftCard.ec()
    der = issue(app, username, card)
    return Holder(account, card, der, enrol_certificate(app, account, der), password)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def get_challenge(client: FlaskClient, username: str, **kwargs: object) -> tuple[str, bytes]:
    response = client.post(CHALLENGE, json={"username": username}, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["challenge_id"], unb64u(body["to_be_signed"])


def card_login(
    client: FlaskClient,
    holder: Holder,
    *,
    password: str | None = None,
    card: SoftCard | None = None,
    form: str = "raw",
    **kwargs: object,
) -> TestResponse:
    """The whole dance: ask for a challenge, sign it on the card, log in."""
    challenge_id, to_be_signed = get_challenge(client, holder.username, **kwargs)
    signature = (card or holder.card).sign(to_be_signed, form=form)
    body = {
        "challenge_id": challenge_id,
        "username": holder.username,
        "password": holder.password if password is None else password,
        "signature": b64u(signature),
    }
    return client.post(LOGIN, json=body, **kwargs)  # type: ignore[arg-type]


def attempts_for(app: Flask, username: str) -> list[LoginAttempt]:
    key = AttemptLog(container(app).key_provider).username_key(username)
    with container(app).sessions() as db:
        return list(
            db.scalars(
                select(LoginAttempt)
                .where(LoginAttempt.username_key == key)
                .order_by(LoginAttempt.at)
            )
        )


def live_sessions(app: Flask, account: Account) -> int:
    with container(app).sessions() as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(AuthSession)
                .where(AuthSession.account_id == account.id, AuthSession.ended_at.is_(None))
            )
            or 0
        )


def login_with(
    client: FlaskClient, challenge_id: str, username: str, password: object, signature: object
) -> TestResponse:
    body = {"challenge_id": challenge_id, "username": username}
    if password is not None:
        body["password"] = password  # type: ignore[assignment]
    if signature is not None:
        body["signature"] = signature  # type: ignore[assignment]
    return client.post(LOGIN, json=body)


# -- the challenge ---------------------------------------------------------------------------------


def test_the_challenge_names_version_service_username_nonce_and_expiry(app: Flask) -> None:
    client = app.test_client()
    before = utcnow()
    response = client.post(CHALLENGE, json={"username": "  Zhang.Wei "})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"challenge_id", "to_be_signed", "expires_at"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["challenge_id"])
    assert "=" not in body["to_be_signed"]
    text = unb64u(body["to_be_signed"]).decode("utf-8")
    match = re.fullmatch(
        r"creditgate-login-v1\nservice=creditgate-combined\nusername=zhang\.wei\n"
        r"nonce=([0-9a-f]{64})\nexpires=(\S+)\n",
        text,
    )
    assert match is not None, text
    assert match.group(2) == body["expires_at"]
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before < expires + timedelta(seconds=1)
    assert expires <= utcnow() + timedelta(minutes=2)
    with container(app).sessions() as db:
        row = db.get(LoginChallenge, body["challenge_id"])
    assert row is not None
    assert row.username == "zhang.wei"
    assert row.used_at is None
    # Only the digest is kept: a database dump shows no nonce.
    assert row.to_be_signed == hashlib.sha256(text.encode()).digest()
    assert match.group(1).encode() not in row.to_be_signed


def test_every_challenge_is_fresh(app: Flask) -> None:
    client = app.test_client()
    first = client.post(CHALLENGE, json={"username": "li.na"}).get_json()
    second = client.post(CHALLENGE, json={"username": "li.na"}).get_json()
    assert first["challenge_id"] != second["challenge_id"]
    assert first["to_be_signed"] != second["to_be_signed"]


def test_unknown_and_known_usernames_get_the_same_kind_of_answer(app: Flask) -> None:
    enrolled_subject(app, "known.user")
    client = app.test_client()
    known = client.post(CHALLENGE, json={"username": "known.user"})
    unknown = client.post(CHALLENGE, json={"username": "nobody.here"})
    assert known.status_code == unknown.status_code == 200
    assert set(known.get_json()) == set(unknown.get_json())
    known_bytes = unb64u(known.get_json()["to_be_signed"])
    unknown_bytes = unb64u(unknown.get_json()["to_be_signed"])
    assert len(known_bytes) - len("known.user") == len(unknown_bytes) - len("nobody.here")
    assert known.headers.get("Content-Type") == unknown.headers.get("Content-Type")
    assert attempts_for(app, "known.user") == attempts_for(app, "nobody.here") == []


# -- successful logins -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_card", "form"),
    [(SoftCard.ec, "raw"), (SoftCard.ec, "der"), (SoftCard.rsa, "raw")],
    ids=["ecdsa-raw", "ecdsa-der", "rsa-pkcs1"],
)
def test_password_and_card_signature_log_in(
    app: Flask, make_card: Callable[[], SoftCard], form: str
) -> None:
    holder = enrolled_subject(app, "wang.fang", card=make_card())
    client = app.test_client()
    response = card_login(client, holder, form=form)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "username": "wang.fang",
        "kind": "subject",
        "methods": ["card", "password"],
    }
    whoami = client.get("/api/v1/auth/session")
    assert whoami.status_code == 200
    assert whoami.get_json()["methods"] == ["card", "password"]
    with container(app).sessions() as db:
        session_row = db.scalars(
            select(AuthSession).where(AuthSession.account_id == holder.account.id)
        ).one()
    assert session_row.card_id == holder.card_id
    assert session_row.methods == "card+password"
    (attempt,) = attempts_for(app, "wang.fang")
    assert (attempt.outcome, attempt.reason, attempt.method) == ("success", "ok", "card")
    assert attempt.account_id == holder.account.id


def test_the_username_is_normalised_at_login_too(app: Flask) -> None:
    holder = enrolled_subject(app, "chen.jie")
    client = app.test_client()
    challenge_id, to_be_signed = get_challenge(client, " CHEN.Jie")
    response = client.post(
        LOGIN,
        json={
            "challenge_id": challenge_id,
            "username": "Chen.JIE ",
            "password": PASSWORD,
            "signature": b64u(holder.card.sign(to_be_signed)),
        },
    )
    assert response.status_code == 200


def test_a_stale_password_hash_is_upgraded_at_login(app: Flask) -> None:
    holder = enrolled_subject(app, "old.hash")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    with container(app).unit() as db:
        db.execute(
            update(Account)
            .where(Account.id == holder.account.id)
            .values(password_hash=weak.hash(PASSWORD))
        )
    assert card_login(app.test_client(), holder).status_code == 200
    with container(app).sessions() as db:
        stored = db.get(Account, holder.account.id)
        assert stored is not None
        assert stored.password_hash is not None
    assert not container(app).passwords.needs_rehash(stored.password_hash)
    assert card_login(app.test_client(), holder).status_code == 200


# -- challenges are single use and bound to their username -----------------------------------------


def test_a_failed_login_burns_its_challenge(app: Flask) -> None:
    holder = enrolled_subject(app, "sun.li")
    client = app.test_client()
    challenge_id, tbs = get_challenge(client, holder.username)
    signature = b64u(holder.card.sign(tbs))
    wrong = login_with(client, challenge_id, holder.username, "not the password", signature)
    assert wrong.status_code == 401
    retry = login_with(client, challenge_id, holder.username, PASSWORD, signature)
    assert retry.status_code == 401
    assert [a.reason for a in attempts_for(app, "sun.li")] == [
        "bad_password",
        "challenge_replayed",
    ]


def test_a_challenge_cannot_be_used_across_users_and_is_burnt_by_the_try(app: Flask) -> None:
    alice = enrolled_subject(app, "alice")
    mallory = enrolled_subject(app, "mallory")
    client = app.test_client()
    challenge_id, tbs = get_challenge(client, "alice")
    # Mallory signs Alice's challenge with her own card and logs in as herself: refused.
    stolen = login_with(client, challenge_id, "mallory", PASSWORD, b64u(mallory.card.sign(tbs)))
    assert stolen.status_code == 401
    assert attempts_for(app, "mallory")[-1].reason == "bad_challenge"
    # Even Alice's own correct answer no longer works: a challenge is presented once.
    late = login_with(client, challenge_id, "alice", PASSWORD, b64u(alice.card.sign(tbs)))
    assert late.status_code == 401
    assert attempts_for(app, "alice")[-1].reason == "challenge_replayed"
    assert live_sessions(app, alice.account) == live_sessions(app, mallory.account) == 0


# -- sessions --------------------------------------------------------------------------------------


def test_login_replaces_the_session_id_no_fixation(app: Flask) -> None:
    holder = enrolled_subject(app, "he.ping")
    other = make_account(app, "previous.user")
    client, _ = logged_in(app, other, frozenset({"password", "card"}))
    with client.session_transaction() as cookie:
        before = cookie["_user_id"]
    assert client.get("/api/v1/auth/session").get_json()["username"] == "previous.user"
    assert card_login(client, holder).status_code == 200
    with client.session_transaction() as cookie:
        after = cookie["_user_id"]
    assert after != before
    assert client.get("/api/v1/auth/session").get_json()["username"] == "he.ping"
    with container(app).unit() as db:
        assert SessionService().resume(db, before) is None  # the old id is dead, not reusable
    assert live_sessions(app, other) == 0


def test_an_attacker_planted_session_id_is_not_adopted(app: Flask) -> None:
    holder = enrolled_subject(app, "gao.yan")
    client = app.test_client()
    planted = "attacker-chosen-session-id-" + "x" * 16
    with client.session_transaction() as cookie:
        cookie["_user_id"] = planted
    assert card_login(client, holder).status_code == 200
    with client.session_transaction() as cookie:
        assert cookie["_user_id"] != planted
    assert client.get("/api/v1/auth/session").status_code == 200


def test_revoking_the_card_ends_its_live_sessions_and_later_logins(app: Flask) -> None:
    holder = enrolled_subject(app, "ma.lin")
    client = app.test_client()
    assert card_login(client, holder).status_code == 200
    assert client.get("/api/v1/auth/session").status_code == 200
    with container(app).unit() as db:
        revoke(db, holder.card_id, "stolen")
    assert client.get("/api/v1/auth/session").status_code == 401
    again = card_login(app.test_client(), holder)
    assert again.status_code == 401
    assert attempts_for(app, "ma.lin")[-1].reason == "card_revoked"


def test_a_second_active_card_still_works_when_one_is_revoked(app: Flask) -> None:
    holder = enrolled_subject(app, "xu.jing")
    spare = SoftCard.rsa()
    enrol_certificate(app, holder.account, issue(app, "xu.jing", spare))
    with container(app).unit() as db:
        revoke(db, holder.card_id, "lost")
    assert card_login(app.test_client(), holder).status_code == 401
    assert card_login(app.test_client(), holder, card=spare).status_code == 200
