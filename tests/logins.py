"""Test helpers: accounts and logged-in test clients, through the real services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from argon2 import Parameters, PasswordHasher, extract_parameters
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from app.container import container
from app.models import Account, AccountRole, LoginChallenge
from app.models.base import utcnow
from app.services.auth.sessions import SessionService


def make_account(
    app: Flask,
    username: str,
    *,
    kind: str = "subject",
    password: str | None = "correct horse battery staple",
    roles: tuple[str, ...] = (),
    subject_id: uuid.UUID | None = None,
) -> Account:
    parts = container(app)
    with parts.unit() as db:
        account = Account(
            username=username,
            kind=kind,
            password_hash=parts.passwords.hash(password) if password else None,
            subject_id=subject_id,
        )
        db.add(account)
        db.flush()
        for role in roles:
            db.add(AccountRole(account_id=account.id, role=role))
    return account


def logged_in(app: Flask, account: Account, methods: frozenset[str]) -> tuple[FlaskClient, str]:
    """A test client holding a fresh session for `account`; returns (client, csrf token)."""
    parts = container(app)
    with parts.unit() as db:
        token = SessionService().start(db, db.get(Account, account.id), methods)  # type: ignore[arg-type]
        principal = SessionService().resume(db, token)
    assert principal is not None
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = token
        cookie["_fresh"] = True
    return client, principal.csrf_token


def expire_challenge(app: Flask, challenge_id: str) -> None:
    """Make a login challenge one second past its expiry, as if two minutes had gone by."""
    with container(app).unit() as db:
        db.execute(
            update(LoginChallenge)
            .where(LoginChallenge.id == challenge_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


@contextmanager
def argon2_verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Parameters]]:
    """The argon2 parameters of every password verification made inside the block: what a
    login costs, counted instead of timed (a timing comparison is noise on a loaded machine;
    the work done is what decides the time)."""
    made: list[Parameters] = []
    verify = PasswordHasher.verify

    def counted(self: PasswordHasher, stored_hash: str | bytes, password: str | bytes) -> bool:
        made.append(extract_parameters(str(stored_hash)))
        return verify(self, stored_hash, password)

    with monkeypatch.context() as patch:
        patch.setattr(PasswordHasher, "verify", counted)
        yield made
