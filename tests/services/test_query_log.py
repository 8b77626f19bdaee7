"""The query log's append path: chained entries, HSM-signed checkpoints in the same
transaction, failed attempts in their own unit, and a subject's view of who queried them."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.container import container
from app.models import LogCheckpoint, QueryLogEntry, QueryLogHead
from app.models.auth import Institution
from app.models.base import utcnow
from app.services.querylog.log import QueryAttempt, QueryLog, record_failure
from app.services.querylog.records import entries_about
from app.settings import Settings, SettingsError
from crypto.hash_chain import GENESIS, checkpoint_message
from crypto.keys import HsmUnavailable, KeyProvider, SigningKey

BIDX = hashlib.sha256(b"subject one").digest()
OTHER_BIDX = hashlib.sha256(b"subject two").digest()


def attempt(
    action: str = "self:report:read",
    decision: str = "allowed",
    *,
    actor_kind: str = "subject",
    actor_ref: str = "acct-1",
    subject_bidx: bytes | None = BIDX,
    purpose: str | None = None,
) -> QueryAttempt:
    return QueryAttempt(
        action=action,
        decision=decision,
        reason="ok" if decision == "allowed" else "refused",
        actor_kind=actor_kind,
        actor_ref=actor_ref,
        request_id=str(uuid.uuid4()),
        client_address="198.51.100.7",
        subject_bidx=subject_bidx,
        purpose=purpose,
        rule_ids=("self-report",),
        fields_released=("A.identity.name",) if decision == "allowed" else (),
    )


class FailingSigner:
    """A key provider whose signing key is gone: the HSM cannot do its part."""

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        raise HsmUnavailable("token not present")


def _log(app: Flask, every: int = 1000, seconds: int = 300) -> QueryLog:
    parts = container(app)
    return QueryLog("cat-v", "pol-v", signer=parts.key_provider, every=every, seconds=seconds)


def _checkpoints(db: Session) -> list[LogCheckpoint]:
    return list(db.scalars(select(LogCheckpoint).order_by(LogCheckpoint.seq)))


def test_entries_chain_from_genesis_and_checkpoints_are_signed_every_n(
    app: Flask, key_provider: KeyProvider
) -> None:
    log = _log(app, every=3)
    with container(app).unit() as db:
        logged = [log.append(db, attempt()) for _ in range(7)]
    assert [entry.seq for entry in logged] == [1, 2, 3, 4, 5, 6, 7]
    with container(app).unit() as db:
        rows = list(db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq)))
        assert rows[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.entry_hash for a, b in pairwise(rows))
        checkpoints = _checkpoints(db)
        head = db.get(QueryLogHead, 1)
    # the first entry is signed at once (no checkpoint yet), then every third
    assert [cp.seq for cp in checkpoints] == [1, 4, 7]
    by_seq = {row.seq: row.entry_hash for row in rows}
    for cp in checkpoints:
        assert cp.entry_hash == by_seq[cp.seq]
        assert cp.key_label == SigningKey.LOG_CHECKPOINT.value
        message = checkpoint_message(cp.seq, cp.entry_hash)
        assert key_provider.verify(SigningKey.LOG_CHECKPOINT, message, cp.signature)
        assert not key_provider.verify(
            SigningKey.LOG_CHECKPOINT, checkpoint_message(cp.seq + 1, cp.entry_hash), cp.signature
        )
    assert head is not None
    assert (head.last_seq, head.last_hash, head.checkpoint_seq) == (7, rows[-1].entry_hash, 7)


def test_a_checkpoint_falls_due_when_the_last_one_is_older_than_t_seconds(app: Flask) -> None:
    log = _log(app, every=1000, seconds=60)
    parts = container(app)
    with parts.unit() as db:
        log.append(db, attempt())  # first entry: signed
        log.append(db, attempt())  # 0 s later: not due
        assert [cp.seq for cp in _checkpoints(db)] == [1]
        db.execute(
            update(QueryLogHead)
            .where(QueryLogHead.id == 1)
            .values(checkpoint_at=utcnow() - timedelta(seconds=61))
        )
        log.append(db, attempt())
        assert [cp.seq for cp in _checkpoints(db)] == [1, 3]


def test_entry_and_checkpoint_roll_back_with_the_callers_unit(app: Flask) -> None:
    log = _log(app, every=1)
    parts = container(app)

    def unit_that_fails_after_the_append() -> None:
        with parts.unit() as db:
            log.append(db, attempt())
            raise RuntimeError("assembling the answer failed")

    with pytest.raises(RuntimeError):
        unit_that_fails_after_the_append()
    with parts.unit() as db:
        assert db.scalars(select(QueryLogEntry)).all() == []
        assert _checkpoints(db) == []
        head = db.get(QueryLogHead, 1)
        assert head is not None
        assert (head.last_seq, head.checkpoint_seq) == (0, 0)


def test_a_failing_hsm_fails_the_append_and_writes_nothing(app: Flask) -> None:
    log = QueryLog("cat-v", "pol-v", signer=FailingSigner(), every=1)  # type: ignore[arg-type]
    parts = container(app)
    with pytest.raises(HsmUnavailable), parts.unit() as db:
        log.append(db, attempt())
    with parts.unit() as db:
        assert db.scalars(select(QueryLogEntry)).all() == []


class _Parts:
    def __init__(self, app: Flask, log: QueryLog) -> None:
        self._parts = container(app)
        self._log = log

    @contextmanager
    def unit(self) -> Iterator[Session]:
        with self._parts.unit() as db:
            yield db

    def query_log(self) -> QueryLog:
        return self._log


def test_record_failure_writes_a_failed_entry_in_its_own_unit(app: Flask) -> None:
    logged = record_failure(container(app), attempt(decision="allowed"))
    assert logged is not None
    with container(app).unit() as db:
        row = db.scalars(select(QueryLogEntry)).one()
    assert (row.seq, row.decision, row.action) == (logged.seq, "failed", "self:report:read")
    assert row.subject_bidx == BIDX


def test_record_failure_that_fails_too_logs_the_type_only_and_returns(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    broken = QueryLog("cat-v", "pol-v", signer=FailingSigner(), every=1)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="creditgate.query_log"):
        assert record_failure(_Parts(app, broken), attempt(decision="failed")) is None
    assert "HsmUnavailable" in caplog.text
    assert "token not present" not in caplog.text  # the message is never logged
    with container(app).unit() as db:
        assert db.scalars(select(QueryLogEntry)).all() == []


def test_a_subject_sees_who_queried_them_newest_first(app: Flask) -> None:
    parts = container(app)
    log = _log(app)
    with parts.unit() as db:
        db.add(
            Institution(
                credit_code="91500000MA5U0A1B2C",
                name="Chongqing Rural Commercial Bank",
                client_id="inst-00000000000000aa",
                public_key_pem="-",
                scopes="institution:report:query",
            )
        )
        db.flush()
        old = attempt("archive:report:read", actor_ref="acct-2")
        log.append(db, replace(old, at=utcnow() - timedelta(days=800)))
        log.append(db, attempt("self:report:read"))
        log.append(
            db,
            attempt(
                "institution:report:query",
                actor_kind="institution",
                actor_ref="inst-00000000000000aa",
                purpose="loan_application",
            ),
        )
        log.append(db, attempt("institution:report:query", "denied", actor_kind="institution"))
        log.append(db, attempt("self:report:read", subject_bidx=OTHER_BIDX))
        log.append(db, attempt("archive:report:read", actor_ref="acct-2"))
        log.append(db, attempt("billing:order:confirm", actor_kind="staff"))
        records = entries_about(db.connection(), BIDX, since=utcnow() - timedelta(days=731))
        own_archive = entries_about(
            db.connection(), BIDX, since=utcnow() - timedelta(days=731), viewer_ref="acct-2"
        )
    assert [(r.requester, r.action, r.purpose) for r in records] == [
        ("individual", "archive:report:read", None),
        ("Chongqing Rural Commercial Bank", "institution:report:query", "loan_application"),
        ("you", "self:report:read", None),
    ]
    shown = [datetime.fromisoformat(record.at) for record in records]
    assert shown[0] >= shown[1] >= shown[2]
    assert all(at.utcoffset() == timedelta(0) for at in shown)
    assert records[0].as_dict()["at"].endswith("+00:00")
    assert own_archive[0].requester == "you"


def test_cli_checkpoint_signs_the_head_now(app: Flask) -> None:
    log = _log(app)
    with container(app).unit() as db:
        log.append(db, attempt())
        log.append(db, attempt())
    runner = app.test_cli_runner()
    signed = runner.invoke(args=["log", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    assert "signed checkpoint at seq 2" in signed.output
    again = runner.invoke(args=["log", "checkpoint"])
    assert again.exit_code == 0
    assert "nothing to sign" in again.output
    with container(app).unit() as db:
        assert [cp.seq for cp in _checkpoints(db)] == [1, 2]


def test_container_query_log_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CREDITGATE_MODE": "test",
            "CREDITGATE_VAR_DIR": str(tmp_path),
            "CREDITGATE_LOG_CHECKPOINT_EVERY": "50",
            "CREDITGATE_LOG_CHECKPOINT_SECONDS": "30",
            "CREDITGATE_DATABASE_ROLE": "creditgate_app",
        }
    )
    assert (settings.log_checkpoint_every, settings.log_checkpoint_seconds) == (50, 30)
    assert settings.database_role == "creditgate_app"
    defaults = Settings.from_env({"CREDITGATE_MODE": "test", "CREDITGATE_VAR_DIR": str(tmp_path)})
    assert (defaults.log_checkpoint_every, defaults.log_checkpoint_seconds) == (1000, 300)
    assert defaults.database_role is None
    for name, value in (
        ("CREDITGATE_LOG_CHECKPOINT_EVERY", "0"),
        ("CREDITGATE_LOG_CHECKPOINT_SECONDS", "soon"),
        ("CREDITGATE_DATABASE_ROLE", 'app"; drop table x'),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(
                {"CREDITGATE_MODE": "test", "CREDITGATE_VAR_DIR": str(tmp_path), name: value}
            )


def test_the_container_wires_the_settings_interval(app: Flask) -> None:
    parts = container(app)
    log = parts.query_log()
    assert (log.every, log.seconds) == (1000, 300)
    assert log.catalog_version == parts.catalog.version
    assert log.signer is parts.key_provider
