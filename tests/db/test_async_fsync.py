"""Asynchronous `fdatasync` (`app.async_fsync`) on real files of this machine: a started flush
is reaped by its own wait, files are closed, failures are reported, and where a flush cannot
run asynchronously the caller is told to sync itself."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app import async_fsync


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _written(path: Path) -> Path:
    with path.open("ab") as file:
        file.write(os.urandom(8192))
    return path


def test_a_flush_runs_while_the_caller_works_and_its_wait_closes_the_file(tmp_path: Path) -> None:
    wal = _written(tmp_path / "db-wal")
    before = _open_fds()
    flush = async_fsync.start(wal)
    assert flush is not None  # this machine (Linux, ext4) flushes asynchronously
    assert len(_open_fds()) == len(before) + 1  # the file stays open while the disk works
    flush.wait()
    flush.wait()  # reaped once; a second wait returns at once
    assert _open_fds() == before


def test_a_missing_file_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        async_fsync.start(tmp_path / "no-such-wal")


def test_a_new_flush_first_reaps_the_one_before_so_each_wait_gets_its_own(
    tmp_path: Path,
) -> None:
    before = _open_fds()
    first = async_fsync.start(_written(tmp_path / "a"))
    second = async_fsync.start(_written(tmp_path / "b"))
    assert first is not None
    assert second is not None
    assert len(_open_fds()) == len(before) + 1  # the first was reaped (and closed) by start
    first.wait()  # already reaped: returns without touching the second's completion
    second.wait()
    assert _open_fds() == before


def test_a_file_that_cannot_be_flushed_asynchronously_is_left_to_the_caller(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # so opening it to flush won't block
    try:
        before = _open_fds()
        assert async_fsync.start(fifo) is None  # the kernel refuses: the caller syncs itself
        assert _open_fds() == before
        assert async_fsync.start(_written(tmp_path / "wal")) is not None  # files still can
    finally:
        os.close(writer)
        os.close(reader)


def test_a_failed_flush_is_reported_by_its_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the kernel reports for the flush (here EIO, as a dying disk would) is raised."""
    flush = async_fsync.start(_written(tmp_path / "wal"))
    assert flush is not None
    real = async_fsync._syscall

    def report_eio(number: int, *args: object) -> int:
        got = real(number, *args)
        if number == async_fsync._GETEVENTS and got == 1:
            event = args[3]._obj  # type: ignore[attr-defined]  # the byref'd io_event
            event.res = -5  # -EIO
        return got

    monkeypatch.setattr(async_fsync, "_syscall", report_eio)
    with pytest.raises(OSError, match="Input/output error") as failure:
        flush.wait()
    assert failure.value.errno == 5


def test_threads_and_forked_processes_flush_with_their_own_contexts(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def flush_in_thread(name: str) -> None:
        try:
            flush = async_fsync.start(_written(tmp_path / name))
            assert flush is not None
            flush.wait()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=flush_in_thread, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    async_fsync.start(_written(tmp_path / "parent")).wait()  # type: ignore[union-attr]
    child = os.fork()
    if child == 0:  # the child: its own context, set up on first use
        try:
            flush = async_fsync.start(_written(tmp_path / "child"))
            flush.wait()  # type: ignore[union-attr]
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
