"""Shared helpers for the self-service web tests: a subject with records, logged in with
password + card (or weaker), and the query-log entries the requests wrote."""

from __future__ import annotations

import uuid
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, select, text

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


def refuse_log_entries(app: Flask) -> None:
    """Make the test's database refuse every new query-log entry from here on (a trigger):
    the log store fails whichever statement writes the entry. On PostgreSQL the error is
    disk_full (53100)."""
    with container(app).unit() as db:
        _refuse_log_entries(db.connection())


def _refuse_log_entries(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(
            text(
                "CREATE TRIGGER test_log_store_full BEFORE INSERT ON query_log"
                " BEGIN SELECT RAISE(ABORT, 'the log store is full'); END"
            )
        )
        return
    connection.execute(
        text(
            "CREATE FUNCTION test_log_store_full() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'the log store is full' USING ERRCODE = '53100'; END $$"
        )
    )
    connection.execute(
        text(
            "CREATE TRIGGER test_log_store_full BEFORE INSERT ON query_log"
            " FOR EACH ROW EXECUTE FUNCTION test_log_store_full()"
        )
    )
