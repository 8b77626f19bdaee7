"""Group commit on an embedded SQLite database: commit under the writer lock, wait for the disk
after it, and let no answer leave before what it saw is on disk.

With `synchronous=FULL`, SQLite makes every commit wait for `fsync` while it holds the one
writer lock, so the next writer waits for the disk too, and every commit pays a full flush.
Here the service's own engine runs `synchronous=NORMAL` (WAL frames are written at commit,
synced at checkpoints) and this module does the syncing:

- `committing()` is called under the writer lock, just before `COMMIT`: it numbers the commit
  in a small counter file shared by every process of the service. The number is taken before
  the commit becomes visible, so a reader that sees the commit also sees its number;
- `wait_durable(ticket)` runs after the lock is released: one `fdatasync` of the WAL file
  makes this commit, and every commit written before it, durable. Writers that finish
  together share one flush. It then records the ticket as synced;
- `start_durable(ticket)` is `wait_durable` for a query's writing unit: it starts the flush
  (`app.async_fsync`, Linux AIO) and returns at once, so the answer is built while the disk
  works; the request's `barrier()` then waits for that flush (and marks the ticket synced)
  before the answer leaves. Where flushes cannot run asynchronously it is `wait_durable`;
- `watch(engine)` notes, after every statement the service runs, the highest commit number
  that statement could have seen (`note_seen`; kept per request context): a reader sees a
  commit only after its COMMIT, and the number was taken before it;
- `barrier()` is for the answer: if a commit this context could have seen is not known to be
  synced, it syncs first (and marks nothing: a commit still being written when it flushes is
  its writer's to sync). A request whose reads all came before its own unit's commit is
  already covered by that unit's flush, and a request that read nothing needs none.

Guarantees: `Container.core_transaction` (under `transaction` too) returns only after
`wait_durable` (or, for a query's unit, with its flush started by `start_durable`), and the web
layer calls `barrier()` before any response leaves, so no answer is sent that rests on a commit
that is not on disk. Every query endpoint writes its log entry in a unit, so its answer is
never sent before its entry is durable. If a sync fails (a dead disk, a full disk),
`CommitNotDurable` is raised and the caller answers 503, disclosing nothing; the commit may
still reach the disk later, so the log may hold an entry for an answer that was never sent (the
safe direction). The counters are monotonic; a stale read of `synced` only causes an extra
sync, never a missing one. If the counters cannot be read, the statement that needed them fails
with `CommitNotDurable` (503): nothing is answered that could rest on an unsynced commit.
Nothing here reads or logs a value of the database.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from app import async_fsync
from app.db import sqlite_file

logger = logging.getLogger("creditgate.group_commit")

#: Two 8-byte slots, each written by one kind of step only: `committed` (offset 0) by the
#: writer holding the lock, `synced` (offset 8) after a flush. Never one write for both, so a
#: flush can never undo a concurrent commit's number.
_SLOT = struct.Struct("<Q")
_COMMITTED, _SYNCED = 0, 8
_SIZE = 16


class CommitNotDurable(OSError):
    """The WAL could not be synced: the commit's durability is unknown (answer 503)."""


class GroupCommit:
    """Commit numbers and WAL syncs for the SQLite database at `database`."""

    def __init__(self, database: Path) -> None:
        self.wal = Path(f"{database}-wal")
        self.counters_path = Path(f"{database}.commits")
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._map: mmap.mmap | None = None
        # Per database (one per process in service; a test process opens many):
        #: the highest commit number the statements of this context (a request) could see;
        self._seen: ContextVar[int] = ContextVar("creditgate_commits_seen", default=0)
        #: the flush this context started for its own unit, with the unit's ticket.
        self._pending: ContextVar[tuple[int, async_fsync.Flush] | None] = ContextVar(
            "creditgate_flush_pending", default=None
        )

    def committing(self) -> int:
        """Number the commit about to be made (call under the writer lock, before COMMIT)."""
        counters = self._counters()
        ticket = int(_SLOT.unpack_from(counters, _COMMITTED)[0]) + 1
        _SLOT.pack_into(counters, _COMMITTED, ticket)
        return ticket

    def wait_durable(self, ticket: int) -> None:
        """Return once commit `ticket` (and every commit before it) is on disk."""
        if self.synced() >= ticket:
            return  # another writer's flush already covered it
        self._sync()
        self._mark_synced(ticket)

    def start_durable(self, ticket: int) -> None:
        """Start making commit `ticket` durable and return; `barrier()` waits for it. Syncs
        at once (`wait_durable`) where flushes cannot run asynchronously."""
        self._reap_pending()  # one flush in flight per context: an earlier unit's first
        if self.synced() >= ticket:
            return
        try:
            flush = async_fsync.start(self.wal)
        except FileNotFoundError:
            return  # no WAL: every commit was checkpointed into the database file and synced
        except OSError as exc:
            raise CommitNotDurable("the write-ahead log could not be synced") from exc
        if flush is None:
            self.wait_durable(ticket)
        else:
            self._pending.set((ticket, flush))

    def watch(self, engine: Engine) -> None:
        """Note the commits every statement on `engine` could have seen (`note_seen`)."""

        def seen(*_args: Any) -> None:
            self.note_seen()

        event.listen(engine, "after_cursor_execute", seen)

    def note_seen(self) -> None:
        """Record that this context may have seen every commit numbered so far."""
        committed = self.committed()
        if committed > self._seen.get():
            self._seen.set(committed)

    def barrier(self) -> None:
        """Return once every commit this context could have seen is on disk (syncs only if
        one may not be; nothing at all for a context that read nothing)."""
        self._reap_pending()
        seen = self._seen.get()
        if seen == 0 or self.synced() >= seen:
            return
        # Not marked as synced: the last numbered commit may still be writing its frames,
        # so this flush vouches only for the commits this answer could see (finished ones).
        self._sync()

    def forget_seen(self) -> None:
        """Start a new context (a request) that has seen nothing yet. A flush still pending
        (an answer that never reached `barrier()`) is reaped here: its file is closed and a
        failure is logged by type only."""
        self._seen.set(0)
        try:
            self._reap_pending()
        except CommitNotDurable as exc:
            logger.error("a flush that no answer waited for failed (%s)", type(exc).__name__)

    def _reap_pending(self) -> None:
        """Wait for this context's pending flush, if any, and mark its ticket synced."""
        pending = self._pending.get()
        if pending is None:
            return
        self._pending.set(None)
        ticket, flush = pending
        try:
            flush.wait()
        except OSError as exc:
            raise CommitNotDurable("the write-ahead log could not be synced") from exc
        self._mark_synced(ticket)

    def synced(self) -> int:
        return int(_SLOT.unpack_from(self._counters(), _SYNCED)[0])

    def committed(self) -> int:
        return int(_SLOT.unpack_from(self._counters(), _COMMITTED)[0])

    def _sync(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: every commit was checkpointed into the database file and synced
        except OSError as exc:
            raise CommitNotDurable("the write-ahead log could not be opened for syncing") from exc
        try:
            os.fdatasync(fd)
        except OSError as exc:
            raise CommitNotDurable("the write-ahead log could not be synced") from exc
        finally:
            os.close(fd)

    def _mark_synced(self, ticket: int) -> None:
        counters = self._counters()
        with self._lock:  # threads of this process; across processes a race only lowers it
            if ticket > _SLOT.unpack_from(counters, _SYNCED)[0]:
                _SLOT.pack_into(counters, _SYNCED, ticket)

    def _counters(self) -> mmap.mmap:
        """The shared counters, mapped once per process (a forked worker maps its own)."""
        pid = os.getpid()
        if self._map is None or self._pid != pid:
            with self._lock:
                if self._map is None or self._pid != pid:
                    try:
                        self._map = _map_counters(self.counters_path)
                    except OSError as exc:  # no directory, a full disk: nothing is certain
                        raise CommitNotDurable("the commit counters could not be opened") from exc
                    self._pid = pid
        return self._map


def _map_counters(path: Path) -> mmap.mmap:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < _SIZE:
            os.ftruncate(fd, _SIZE)
        return mmap.mmap(fd, _SIZE)
    finally:
        os.close(fd)


def group_commit_for(database_url: str) -> GroupCommit | None:
    """The group commit of a file-backed SQLite database, or None (PostgreSQL, in-memory)."""
    database = sqlite_file(database_url)
    return None if database is None else GroupCommit(database)
