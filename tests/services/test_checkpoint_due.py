"""When a checkpoint is due, in Python (`checkpoint_due`, after an append) and in SQL
(`due_after_next_append`, before the one-statement append decides to write): the two must
agree on every head, or the one-statement append would skip a checkpoint the unit signs, or
leave to the unit appends it could make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select, update

from app.models import QueryLogHead
from app.services.querylog.checkpoints import Head, checkpoint_due, due_after_next_append

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
EVERY, SECONDS = 1000, 300


@pytest.mark.parametrize(
    ("last_seq", "checkpoint_seq", "signed_ago_s"),
    [
        (0, 0, None),  # an empty log, never signed
        (7, 0, None),  # entries, never signed
        (10, 10, 5),  # just signed
        (998, 0, 10),  # the next entry is the 999th unsigned
        (999, 0, 10),  # the next entry is the 1000th
        (1500, 400, 10),  # past the interval already
        (50, 40, SECONDS - 1),  # a second before the time limit
        (50, 40, SECONDS),  # on it
        (50, 40, SECONDS + 1),  # a second after
    ],
)
def test_sql_and_python_agree_whether_the_next_entry_makes_a_checkpoint_due(
    connection: Connection, last_seq: int, checkpoint_seq: int, signed_ago_s: int | None
) -> None:
    signed_at = None if signed_ago_s is None else NOW - timedelta(seconds=signed_ago_s)
    connection.execute(
        update(QueryLogHead)
        .where(QueryLogHead.id == 1)
        .values(last_seq=last_seq, checkpoint_seq=checkpoint_seq, checkpoint_at=signed_at)
    )
    in_sql = connection.execute(
        select(due_after_next_append()),
        {"checkpoint_every": EVERY, "checkpoint_due_before": NOW - timedelta(seconds=SECONDS)},
    ).scalar_one()
    after_next = Head(last_seq + 1, b"\0" * 32, checkpoint_seq, signed_at)
    in_python = checkpoint_due(after_next, NOW, every=EVERY, seconds=SECONDS)
    assert bool(in_sql) is in_python
