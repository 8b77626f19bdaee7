"""Shared helpers for the self-service web tests: a subject with records, logged in with
password + card (or weaker), and the query-log entries the requests wrote."""

from __future__ import annotations

import uuid
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import Account, QueryLogEntry
from tests.logins import logged_in, make_account
from tests.services.report_helpers import Person, ingest

CARD = frozenset({"password", "card"})


def subject_account(app: Flask, person: Person, *, today: date) -> tuple[Account, uuid.UUID]:
    subject_id = ingest(app, [person], today=today)[person.id_number]
    account = make_account(app, f"u{uuid.uuid4().hex[:10]}", subject_id=subject_id)
    return account, subject_id


def client_for(
    app: Flask, account: Account, methods: frozenset[str] = CARD
) -> tuple[FlaskClient, dict[str, str]]:
    client, csrf = logged_in(app, account, methods)
    return client, {"X-CSRF-Token": csrf}


def entries(app: Flask, action: str | None = None) -> list[QueryLogEntry]:
    with container(app).sessions() as db:
        query = select(QueryLogEntry).order_by(QueryLogEntry.seq)
        if action is not None:
            query = query.where(QueryLogEntry.action == action)
        return list(db.scalars(query))
