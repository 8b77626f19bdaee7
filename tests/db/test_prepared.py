"""Prepared statements (`app.prepared`) on both backends: the same rows and the same effects as
`Connection.execute`, Core's error types with no parameter in them, and the engine's
statement listeners still told."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.models import Account
from app.models.base import utcnow
from app.prepared import Prepared

_ACCOUNTS: Any = Account.__table__
_BY_NAME = select(
    _ACCOUNTS.c.id, _ACCOUNTS.c.username, _ACCOUNTS.c.kind, _ACCOUNTS.c.created_at
).where(_ACCOUNTS.c.username == bindparam("username"))
_ADD = insert(_ACCOUNTS)
_COLUMNS = ("id", "username", "kind", "status", "created_at")


def _account(name: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "username": name,
        "kind": "subject",
        "status": "active",
        "created_at": datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC),
    }


def test_rows_and_changes_are_the_ones_core_gives(connection: Connection) -> None:
    added = _account("prepared-reader")
    Prepared(_ADD, column_keys=_COLUMNS).run(connection, added)
    by_name = Prepared(_BY_NAME)
    rows = by_name.rows(connection, {"username": "prepared-reader"})
    assert rows == [tuple(connection.execute(_BY_NAME, {"username": "prepared-reader"}).one())]
    account_id, username, kind, created_at = rows[0]
    assert (account_id, username, kind) == (added["id"], "prepared-reader", "subject")
    assert created_at.replace(tzinfo=UTC) == added["created_at"]  # SQLite keeps naive UTC
    assert by_name.rows(connection, {"username": "nobody"}) == []
    rename = Prepared(
        update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id")),
        column_keys=("status",),
    )
    assert rename.changed(connection, {"account_id": added["id"], "status": "disabled"}) == 1
    assert rename.changed(connection, {"account_id": uuid.uuid4(), "status": "disabled"}) == 0
    status = connection.execute(select(_ACCOUNTS.c.status).where(_ACCOUNTS.c.id == added["id"]))
    assert status.scalar_one() == "disabled"


def test_a_driver_error_is_raised_as_core_raises_it_without_its_values(
    connection: Connection,
) -> None:
    add = Prepared(_ADD, column_keys=_COLUMNS)
    first = _account("prepared-twice")
    add.run(connection, first)
    nested = connection.begin_nested()
    with pytest.raises(IntegrityError) as raised:
        add.run(connection, {**first, "id": uuid.uuid4()})  # the same username
    nested.rollback()
    assert "09:30:15" not in str(raised.value)  # no parameter of the statement
    assert first["id"].hex not in str(raised.value)
    assert str(first["id"]) not in str(raised.value)


def test_the_engines_statement_listeners_are_still_told(connection: Connection) -> None:
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    event.listen(connection, "after_cursor_execute", listener)
    try:
        Prepared(_BY_NAME).rows(connection, {"username": "anyone"})
    finally:
        event.remove(connection, "after_cursor_execute", listener)
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("SELECT")


def test_an_in_list_parameter_is_refused_where_it_would_be_prepared(
    connection: Connection,
) -> None:
    by_names = Prepared(
        select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.username.in_(bindparam("names", expanding=True)))
    )
    with pytest.raises(ValueError, match="expanding"):
        by_names.rows(connection, {"names": ["x"]})


def test_utcnow_round_trips_through_a_prepared_insert(connection: Connection) -> None:
    added = {**_account("prepared-clock"), "created_at": utcnow()}
    Prepared(_ADD, column_keys=_COLUMNS).run(connection, added)
    [(_, _, _, created_at)] = Prepared(_BY_NAME).rows(connection, {"username": "prepared-clock"})
    stored = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    assert stored == added["created_at"]


def test_a_write_outside_a_transaction_is_refused(db_engine: Any) -> None:
    with db_engine.connect() as bare:
        with pytest.raises(ValueError, match="unit of work"):
            Prepared(_ADD, column_keys=_COLUMNS).run(bare, _account("never-written"))
        assert (
            bare.execute(
                select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.username == "never-written")
            ).all()
            == []
        )
