"""SQLite group commit (`app.group_commit`) on a real committed database file: units wait for
the disk after releasing the writer lock, answers wait for every commit they could have seen,
and a flush that fails answers 503 with nothing disclosed."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

import app.group_commit
from app.container import Container, container
from app.db import make_engine
from app.factory import create_app
from app.group_commit import CommitNotDurable, GroupCommit
from app.migrate import upgrade
from app.models import QueryLogEntry
from app.services.reports.assembly import ReportService
from crypto.keys import KeyProvider
from tests.conftest import ScratchDatabase, make_settings
from tests.db.log_entries import append_entry, count_entries
from tests.services.report_helpers import Person, citizen_id, loan
from tests.web.self_helpers import client_for, subject_account

TODAY = date(2026, 11, 21)


class Flushes:
    """Counts the group commit's flushes of the write-ahead log, synchronous (`fdatasync`)
    and asynchronous (`async_fsync.start`, reported at its `wait`), and fails them on demand:
    as a disk does, a failing asynchronous flush is started and reports its error when
    waited for."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False
        self._real = os.fdatasync
        self._real_start = app.group_commit.async_fsync.start

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.failing:
            raise OSError(errno.EIO, "simulated disk failure")
        self._real(fd)

    def start(self, path: Path) -> _Flush:
        self.calls += 1
        return _Flush(self._real_start(path), failing=self.failing)


class _Flush:
    def __init__(self, real: Any, *, failing: bool) -> None:
        self.real, self.failing = real, failing

    def wait(self) -> None:
        if self.real is not None:
            self.real.wait()
        if self.failing:
            raise OSError(errno.EIO, "simulated disk failure")


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> Flushes:
    counter = Flushes()
    monkeypatch.setattr(app.group_commit.os, "fdatasync", counter)
    monkeypatch.setattr(app.group_commit.async_fsync, "start", counter.start)
    return counter


@pytest.fixture
def service(
    tmp_path: Path, key_provider: KeyProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """The application on a committed SQLite file, as `make run` serves it."""
    database = ScratchDatabase("sqlite", tmp_path)
    upgrade(database.url)
    monkeypatch.setattr("app.web.query_call.today", lambda: TODAY)
    application = create_app(make_settings(database.url, tmp_path), key_provider=key_provider)
    yield application
    container(application).engine.dispose()


def _group_commit(parts: Container) -> GroupCommit:
    assert parts.group_commit is not None
    return parts.group_commit


def test_a_unit_is_synced_once_after_its_commit_and_then_counts_as_synced(
    service: Flask, flushes: Flushes
) -> None:
    parts = container(service)
    group_commit = _group_commit(parts)
    before = group_commit.committed()
    append_entry(parts)
    assert flushes.calls == 1
    assert group_commit.committed() == group_commit.synced() == before + 1
    group_commit.barrier()  # nothing numbered is unsynced: no flush at all
    assert flushes.calls == 1
    with parts.reads() as connection:
        assert count_entries(connection) == 1


def test_a_commit_another_worker_made_is_synced_before_an_answer_leaves(
    service: Flask, flushes: Flushes
) -> None:
    parts = container(service)
    append_entry(parts)
    other_worker = GroupCommit(Path(parts.settings.database_url.removeprefix("sqlite:///")))
    other_worker.committing()  # numbered (visible to readers), its flush still pending
    flushes.calls = 0
    assert service.test_client().get("/readyz").status_code == 200
    assert flushes.calls == 1
    # the barrier vouches only for what it could see: the other commit stays unsynced
    assert _group_commit(parts).synced() < other_worker.committed()


def test_an_answer_whose_commits_cannot_be_synced_is_503_with_nothing_in_it(
    service: Flask, flushes: Flushes
) -> None:
    parts = container(service)
    append_entry(parts)  # the service's write-ahead log is open
    other_worker = GroupCommit(Path(parts.settings.database_url.removeprefix("sqlite:///")))
    other_worker.committing()
    flushes.failing = True
    answer = service.test_client().get("/readyz")  # reads the database, writes nothing
    assert answer.status_code == 503
    assert answer.get_json() == {
        "error": "service_unavailable",
        "message": "The service cannot answer safely right now; nothing was disclosed.",
    }
    assert answer.headers["X-Request-Id"]  # the other after-request hooks still ran
    assert answer.headers["Retry-After"] == "30"


def test_an_own_report_whose_commit_cannot_be_synced_discloses_nothing(
    service: Flask, flushes: Flushes
) -> None:
    name, id_number = "李秀英", citizen_id(58)
    account, _ = subject_account(
        service, Person(id_number, name, (loan(date(2020, 3, 1)),)), today=TODAY
    )
    client, headers = client_for(service, account)
    flushes.failing = True
    answer = client.post("/api/v1/self/reports", json={}, headers=headers)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "service_unavailable"
    assert name not in body
    assert id_number[-4:] not in body
    assert "balance_fen" not in body
    # the entry committed with the report stays (its durability unknown), and the attempt
    # is logged as failed too: the log tells the answer never left
    with container(service).reads() as connection:
        entries = connection.execute(
            select(QueryLogEntry.decision, QueryLogEntry.reason)
            .where(QueryLogEntry.request_id == answer.headers["X-Request-Id"])
            .order_by(QueryLogEntry.seq)
        ).all()
    assert [tuple(entry) for entry in entries] == [
        ("allowed", "subject_own_data"),
        ("failed", "database_failure"),
    ]
    flushes.failing = False  # the disk is back: the next report is answered
    answer = client.post("/api/v1/self/reports", json={}, headers=headers)
    assert answer.status_code == 200
    assert answer.get_json()["subject"]["name"] == name


def test_a_report_asked_for_once_the_free_ones_are_used_up_commits_and_flushes_once(
    service: Flask, flushes: Flushes
) -> None:
    """The free-report attempt that finds none left rolls back (no commit, no flush); the one
    unit that creates the fee order and logs the refusal commits and flushes once, and a
    failing flush there writes one `failed` entry for the one attempt."""
    account, _ = subject_account(
        service, Person(citizen_id(59), "周芳", (loan(date(2020, 3, 1)),)), today=TODAY
    )
    client, headers = client_for(service, account)
    for _ in range(2):
        assert client.post("/api/v1/self/reports", json={}, headers=headers).status_code == 200
    group_commit = _group_commit(container(service))
    committed, flushes.calls = group_commit.committed(), 0
    asked = client.post("/api/v1/self/reports", json={}, headers=headers)
    assert asked.status_code == 402
    assert (group_commit.committed() - committed, flushes.calls) == (1, 1)
    flushes.failing = True
    failed = client.post("/api/v1/self/reports", json={}, headers=headers)
    assert failed.status_code == 503
    with container(service).reads() as connection:
        logged = connection.execute(
            select(QueryLogEntry.decision).where(
                QueryLogEntry.request_id == failed.headers["X-Request-Id"]
            )
        ).scalars()
        assert sorted(logged) == ["denied", "failed"]


def test_a_unit_whose_commit_cannot_be_synced_raises_and_frees_the_writer_lock(
    service: Flask, flushes: Flushes
) -> None:
    parts = container(service)
    flushes.failing = True
    with pytest.raises(CommitNotDurable):
        append_entry(parts)
    flushes.failing = False
    append_entry(parts)  # the next writer is not stuck behind the failed one
    with parts.reads() as connection:
        assert count_entries(connection) == 2  # committed, just not known to be on disk


def test_the_service_engine_leaves_syncing_to_the_units_and_every_other_engine_syncs(
    service: Flask,
) -> None:
    parts = container(service)
    with parts.reads() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    other = make_engine(parts.settings.database_url)  # migrations, scripts, benchmarks
    with other.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    other.dispose()
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        make_engine(parts.settings.database_url, sqlite_synchronous="OFF")


def test_commit_numbers_are_shared_and_synced_never_moves_back(
    tmp_path: Path, flushes: Flushes
) -> None:
    database = tmp_path / "shared.db"
    database.with_name("shared.db-wal").write_bytes(b"")
    first, second = GroupCommit(database), GroupCommit(database)
    tickets = [first.committing(), second.committing(), first.committing()]
    assert tickets == [1, 2, 3]
    second.wait_durable(3)
    first.wait_durable(1)  # already covered by the flush for 3: no flush of its own
    assert flushes.calls == 1
    assert first.synced() == second.synced() == 3


def test_without_a_wal_file_there_is_nothing_to_sync(tmp_path: Path, flushes: Flushes) -> None:
    group_commit = GroupCommit(tmp_path / "checkpointed.db")
    group_commit.wait_durable(group_commit.committing())
    assert flushes.calls == 0  # every commit is already in the synced database file


def test_only_file_backed_sqlite_gets_a_group_commit(tmp_path: Path) -> None:
    assert app.group_commit.group_commit_for(f"sqlite:///{tmp_path / 'a.db'}") is not None
    assert app.group_commit.group_commit_for("sqlite:///:memory:") is None
    assert app.group_commit.group_commit_for("postgresql+psycopg://h/db") is None


def test_commit_counters_that_cannot_be_opened_fail_closed(tmp_path: Path) -> None:
    group_commit = GroupCommit(tmp_path / "missing-dir" / "x.db")
    with pytest.raises(CommitNotDurable, match="counters"):
        group_commit.note_seen()  # after a statement: its answer cannot be vouched for
    with pytest.raises(CommitNotDurable):
        group_commit.committing()


def test_a_statement_that_cannot_note_what_it_saw_answers_503(
    service: Flask, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(self: GroupCommit) -> int:
        raise CommitNotDurable("the commit counters could not be opened")

    monkeypatch.setattr(GroupCommit, "committed", unreadable)
    answer = service.test_client().get("/readyz")  # reads the database
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "service_unavailable"


def test_an_answer_that_read_nothing_waits_for_no_flush(service: Flask, flushes: Flushes) -> None:
    parts = container(service)
    append_entry(parts)
    other_worker = GroupCommit(Path(parts.settings.database_url.removeprefix("sqlite:///")))
    other_worker.committing()  # pending, but this answer reads no row of the database
    flushes.calls = 0
    assert service.test_client().get("/api/v1/openapi.json").status_code == 200
    assert flushes.calls == 0


def test_a_report_is_covered_by_its_own_flush_even_if_another_commit_follows(
    service: Flask, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything the report read was committed before its own unit's commit, which its
    own flush made durable: a commit another worker numbers afterwards is not its concern."""
    parts = container(service)
    account, _ = subject_account(
        service, Person(citizen_id(61), "王芳", (loan(date(2021, 6, 1)),)), today=TODAY
    )
    client, headers = client_for(service, account)
    other_worker = GroupCommit(Path(parts.settings.database_url.removeprefix("sqlite:///")))
    real_document = ReportService.document

    def document_after_another_commit(*args: Any, **kwargs: Any) -> Any:
        other_worker.committing()  # numbered after this report's unit committed and synced
        return real_document(*args, **kwargs)

    monkeypatch.setattr(ReportService, "document", document_after_another_commit)
    flushes.calls = 0
    assert client.post("/api/v1/self/reports", json={}, headers=headers).status_code == 200
    assert flushes.calls == 1  # the unit's own flush; the barrier adds none
    assert _group_commit(parts).synced() < other_worker.committed()


def _own_report_noting_the_flush(
    service: Flask,
    monkeypatch: pytest.MonkeyPatch,
    person: Person,
    before_post: Callable[[], None] = lambda: None,
) -> tuple[int, int, int]:
    """Ask for `person`'s own report; (status, the last commit number and the synced number
    while its document was built)."""
    group_commit = _group_commit(container(service))
    account, _ = subject_account(service, person, today=TODAY)
    client, headers = client_for(service, account)
    seen_while_building: list[tuple[int, int]] = []
    real_document = ReportService.document

    def document_noting_the_flush(*args: Any, **kwargs: Any) -> Any:
        seen_while_building.append((group_commit.committed(), group_commit.synced()))
        return real_document(*args, **kwargs)

    monkeypatch.setattr(ReportService, "document", document_noting_the_flush)
    before_post()
    status = client.post("/api/v1/self/reports", json={}, headers=headers).status_code
    [(ticket, synced_then)] = seen_while_building
    return status, ticket, synced_then


def test_a_report_is_built_while_its_flush_runs_and_sent_only_once_it_is_done(
    service: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The query unit returns once committed, its `fdatasync` started (Linux AIO on this
    machine); the answer waits for the flush before it leaves, and counts it as synced."""
    person = Person(citizen_id(64), "赵敏", (loan(date(2022, 2, 1)),))
    status, ticket, synced_then = _own_report_noting_the_flush(service, monkeypatch, person)
    assert status == 200
    assert synced_then < ticket  # the report was built before its commit was known durable
    assert _group_commit(container(service)).synced() >= ticket  # sent after the flush


def test_where_flushes_cannot_run_asynchronously_the_unit_syncs_before_it_returns(
    service: Flask, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another kernel or file system: `async_fsync.start` says no, and the query's unit
    waits for an ordinary `fdatasync` before the report is even built."""
    monkeypatch.setattr(app.group_commit.async_fsync, "start", lambda _path: None)
    person = Person(citizen_id(67), "孙丽", (loan(date(2023, 5, 1)),))
    status, ticket, synced_then = _own_report_noting_the_flush(
        service, monkeypatch, person, before_post=lambda: setattr(flushes, "calls", 0)
    )
    assert status == 200
    assert synced_then >= ticket  # synced before the report was built
    assert flushes.calls == 1  # one ordinary fdatasync, none added by the answer's barrier
