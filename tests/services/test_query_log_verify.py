"""`verify` finds every kind of tampering and names the first bad position; the intact log
verifies. The attacker here has the database owner's rights (SQLite triggers dropped, the
PostgreSQL superuser) — what the application role itself cannot do is tested in
test_query_log_roles.py."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, delete, insert, select, text, update

from app.container import container
from app.migrate import upgrade
from app.models import LogCheckpoint, QueryLogEntry, QueryLogHead
from app.models.query_log import CANONICAL_COLUMNS
from app.services.querylog.entry import EntryEncoding
from app.services.querylog.log import QueryAttempt, QueryLog
from app.services.querylog.verify import (
    BAD_SIGNATURE,
    CHECKPOINT_MISMATCH,
    DELETED,
    EDITED,
    INSERTED,
    REORDERED,
    TRUNCATED,
    verify_log,
)
from crypto.hash_chain import chain_hash
from crypto.keys import KeyProvider, SigningKey
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings

ENTRIES = 300
EVERY = 25  # checkpoints at 1, 26, 51, ... 276 (first entry is signed at once)
TARGET = 137
COLUMNS = [c.name for c in QueryLogEntry.__table__.c]


def _attempt(n: int) -> QueryAttempt:
    return QueryAttempt(
        action=("self:report:read", "institution:report:query", "public:list:search")[n % 3],
        decision=("allowed", "denied", "allowed", "failed")[n % 4],
        reason=f"reason-{n % 5}" + ("-拒绝 ü" if n % 2 else ""),  # multi-byte UTF-8 too
        actor_kind="subject" if n % 3 != 1 else "institution",
        actor_ref=f"actor-{n % 17}",
        request_id=str(uuid.uuid4()),
        client_address="203.0.113.9",
        subject_bidx=hashlib.sha256(str(n % 11).encode()).digest() if n % 7 else None,
        purpose="loan_application" if n % 3 == 1 else None,
        consent_jti=f"jti-{n}" if n % 3 == 1 else None,
        # a mixed log: government entries carry a legal basis, the others none (their
        # encoding is the one from before the column existed)
        legal_basis=f"government_procurement_law:渝财采〔2026〕{n}号" if (n + 1) % 5 == 2 else None,
        rule_ids=("r1", "r2"),
        fields_released=("A.identity.name", "B.loan.amount") if n % 4 == 0 else (),
        fee_fen=(n % 3) * 500,
    )


@pytest.fixture
def built(app: Flask, connection: Connection, key_provider: KeyProvider) -> Connection:
    log = QueryLog("catalog-v", "policy-v", signer=key_provider, every=EVERY, seconds=3600)
    parts = container(app)
    with parts.unit() as db:
        for n in range(ENTRIES):
            log.append(db, _attempt(n))
    if connection.dialect.name == "sqlite":  # the attacker removes the append-only triggers
        for table in ("query_log", "log_checkpoints"):
            for verb in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER {table}_no_{verb}"))
    return connection


def _verify(connection: Connection, key_provider: KeyProvider) -> tuple[int, str] | None:
    report = verify_log(
        connection, key_provider.public_key_der(SigningKey.LOG_CHECKPOINT), batch=64
    )
    return None if report.problem is None else (report.problem.seq, report.problem.kind)


def _row(conn: Connection, seq: int) -> dict[str, Any]:
    return dict(
        conn.execute(select(QueryLogEntry.__table__).where(QueryLogEntry.seq == seq)).one()._mapping
    )


def _set(conn: Connection, seq: int, values: dict[str, Any]) -> None:
    conn.execute(update(QueryLogEntry.__table__).where(QueryLogEntry.seq == seq).values(**values))


def _valid_hash(values: dict[str, Any]) -> bytes:
    fields = [values[name] for name in CANONICAL_COLUMNS]
    return chain_hash(values["prev_hash"], EntryEncoding().entry(fields))


def _shift_up_from(conn: Connection, seq: int) -> None:
    table = QueryLogEntry.__table__
    conn.execute(update(table).where(table.c.seq >= seq).values(seq=-table.c.seq))
    conn.execute(update(table).where(table.c.seq < 0).values(seq=-table.c.seq + 1))


def edit_field(conn: Connection) -> None:
    _set(conn, TARGET, {"purpose": "marketing"})


def edit_legal_basis(conn: Connection) -> None:
    _set(conn, TARGET, {"legal_basis": "civil_servant_law:渝人社〔2026〕1号"})


def drop_legal_basis(conn: Connection) -> None:
    """An entry's legal basis removed: it would then encode as an entry from before the column
    existed, which is not what was hashed."""
    _set(conn, TARGET, {"legal_basis": None})


def add_legal_basis(conn: Connection) -> None:
    _set(conn, TARGET + 1, {"legal_basis": "civil_servant_law:渝人社〔2026〕1号"})


def edit_time(conn: Connection) -> None:
    row = _row(conn, TARGET)
    _set(conn, TARGET, {"at": row["at"].replace(year=row["at"].year - 1)})


def edit_prev_hash(conn: Connection) -> None:
    _set(conn, TARGET, {"prev_hash": bytes(32)})


def shift_text_between_columns(conn: Connection) -> None:
    """Move characters from one column to its neighbour: the concatenation stays the same."""
    row = _row(conn, TARGET)
    _set(
        conn,
        TARGET,
        {"reason": row["reason"] + row["rule_ids"][:1], "rule_ids": row["rule_ids"][1:]},
    )


def delete_one(conn: Connection) -> None:
    conn.execute(delete(QueryLogEntry.__table__).where(QueryLogEntry.seq == TARGET))


def insert_one_chained(conn: Connection) -> None:
    """A forged entry slipped in at TARGET with a valid hash; later entries renumbered."""
    forged = _row(conn, TARGET)
    forged.update(request_id=str(uuid.uuid4()), actor_ref="forger")
    _shift_up_from(conn, TARGET)
    forged["entry_hash"] = _valid_hash(forged)
    conn.execute(insert(QueryLogEntry.__table__).values(**forged))


def insert_one_unchained(conn: Connection) -> None:
    forged = _row(conn, TARGET)
    forged.update(request_id=str(uuid.uuid4()))
    _shift_up_from(conn, TARGET)
    conn.execute(insert(QueryLogEntry.__table__).values(**forged))


def insert_beyond_head(conn: Connection) -> None:
    last = _row(conn, ENTRIES)
    extra = dict(last, seq=ENTRIES + 1, prev_hash=last["entry_hash"])
    extra["entry_hash"] = _valid_hash(extra)
    conn.execute(insert(QueryLogEntry.__table__).values(**extra))


def _swap(conn: Connection, a: int, b: int) -> None:
    first, second = _row(conn, a), _row(conn, b)
    _set(conn, a, {k: v for k, v in second.items() if k != "seq"})
    _set(conn, b, {k: v for k, v in first.items() if k != "seq"})


def swap_two(conn: Connection) -> None:
    _swap(conn, TARGET, 212)


def swap_neighbours(conn: Connection) -> None:
    _swap(conn, TARGET, TARGET + 1)


def truncate_tail(conn: Connection) -> None:
    conn.execute(delete(QueryLogEntry.__table__).where(QueryLogEntry.seq > 290))


def truncate_tail_and_head(conn: Connection) -> None:
    """The head is moved back too: the checkpoint at 276 still names a later position...
    so cut before it, and the checkpoint itself gives the truncation away."""
    conn.execute(delete(QueryLogEntry.__table__).where(QueryLogEntry.seq > 270))
    row = _row(conn, 270)
    conn.execute(update(QueryLogHead.__table__).values(last_seq=270, last_hash=row["entry_hash"]))


def forge_signature(conn: Connection) -> None:
    table = LogCheckpoint.__table__
    signature = conn.execute(select(table.c.signature).where(table.c.seq == 151)).scalar_one()
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    conn.execute(update(table).where(table.c.seq == 151).values(signature=forged))


def rewrite_chain(conn: Connection) -> None:
    """The strongest attacker: edit an entry, recompute every later hash and the head."""
    _set(conn, TARGET, {"purpose": "marketing"})
    prev = _row(conn, TARGET - 1)["entry_hash"]
    for seq in range(TARGET, ENTRIES + 1):
        row = _row(conn, seq)
        row["prev_hash"] = prev
        row["entry_hash"] = prev = _valid_hash(row)
        _set(conn, seq, {"prev_hash": row["prev_hash"], "entry_hash": row["entry_hash"]})
    conn.execute(update(QueryLogHead.__table__).values(last_hash=prev))


CASES: list[tuple[Callable[[Connection], None], tuple[int, str]]] = [
    (edit_field, (TARGET, EDITED)),
    (edit_legal_basis, (TARGET, EDITED)),
    (drop_legal_basis, (TARGET, EDITED)),
    (add_legal_basis, (TARGET + 1, EDITED)),
    (edit_time, (TARGET, EDITED)),
    (edit_prev_hash, (TARGET, EDITED)),
    (shift_text_between_columns, (TARGET, EDITED)),
    (delete_one, (TARGET, DELETED)),
    (insert_one_chained, (TARGET, INSERTED)),
    (insert_one_unchained, (TARGET, INSERTED)),
    (insert_beyond_head, (ENTRIES + 1, INSERTED)),
    (swap_two, (TARGET, REORDERED)),
    (swap_neighbours, (TARGET, REORDERED)),
    (truncate_tail, (291, TRUNCATED)),
    (truncate_tail_and_head, (271, TRUNCATED)),
    (forge_signature, (151, BAD_SIGNATURE)),
    (rewrite_chain, (151, CHECKPOINT_MISMATCH)),
]


def test_the_target_holds_a_legal_basis_and_its_neighbour_none(built: Connection) -> None:
    assert _row(built, TARGET)["legal_basis"] is not None
    assert _row(built, TARGET + 1)["legal_basis"] is None


def test_the_intact_log_verifies(built: Connection, key_provider: KeyProvider) -> None:
    report = verify_log(built, key_provider.public_key_der(SigningKey.LOG_CHECKPOINT), batch=64)
    assert report.problem is None
    assert (report.entries, report.checkpoints) == (ENTRIES, 12)
    assert report.summary().startswith(f"query log intact: {ENTRIES} entries, 12 checkpoints")


@pytest.mark.parametrize(("tamper", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_tampering_is_named_at_the_first_bad_position(
    built: Connection,
    key_provider: KeyProvider,
    tamper: Callable[[Connection], None],
    expected: tuple[int, str],
) -> None:
    tamper(built)
    assert _verify(built, key_provider) == expected


def test_cli_exit_status_and_summary(app: Flask, key_provider: KeyProvider) -> None:
    log = QueryLog("catalog-v", "policy-v", signer=key_provider, every=EVERY, seconds=3600)
    with container(app).unit() as db:
        for n in range(ENTRIES):
            log.append(db, _attempt(n))
    runner = app.test_cli_runner()
    intact = runner.invoke(args=["log", "verify"])
    assert intact.exit_code == 0, intact.output
    assert f"query log intact: {ENTRIES} entries, 12 checkpoints" in intact.output
    with container(app).engine.begin() as owner:  # the database's owner edits an entry
        if owner.dialect.name == "sqlite":
            owner.execute(text("DROP TRIGGER query_log_no_update"))
        edit_field(owner)
    broken = runner.invoke(args=["log", "verify"])
    assert broken.exit_code == 1
    assert f"first problem at seq {TARGET}: edited" in broken.output
    assert "marketing" not in broken.output  # names positions, never contents


def test_values_holding_the_key_separator_still_verify_and_cannot_hide_an_edit(
    app: Flask, connection: Connection, key_provider: KeyProvider
) -> None:
    log = QueryLog("catalog-v", "policy-v", signer=key_provider, every=EVERY, seconds=3600)
    odd = replace(_attempt(1), reason="a\x1fb", rule_ids=("x\x1f",))
    with container(app).unit() as db:
        for n in range(5):
            log.append(db, _attempt(n))
        log.append(db, odd)
        log.append(db, replace(odd, reason="a", rule_ids=("b\x1fx\x1f",)))
    assert _verify(connection, key_provider) is None
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER query_log_no_update"))
    # move text across the separator: same concatenation, different entry
    _set(connection, 6, {"reason": "a\x1fb\x1fx", "rule_ids": ""})
    assert _verify(connection, key_provider) == (6, EDITED)


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_cli_verify_on_a_real_engine_reads_one_snapshot(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> None:
    """Outside the test savepoints: its own connection (REPEATABLE READ on PostgreSQL)."""

    upgrade(scratch_database.url)
    app = make_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    parts = container(app)
    with parts.unit() as db:
        for n in range(30):
            parts.query_log().append(db, _attempt(n))
    result = app.test_cli_runner().invoke(args=["log", "verify"])
    parts.engine.dispose()
    assert result.exit_code == 0, result.output
    assert "query log intact: 30 entries, 1 checkpoints" in result.output
