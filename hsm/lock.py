"""The process-wide PKCS#11 lock and the cross-process initialisation lock.

Guarantees:

- `HSM_LOCK` is the one lock every PKCS#11 call in this process is made under, whichever
  provider instance or thread makes it. python-pkcs11 releases the GIL around each Cryptoki
  call and initialises the module with ``C_Initialize(NULL)`` (no locking callbacks), so SoftHSM2
  runs without internal mutexes: two concurrent calls have crashed it and emptied its token file
  (reproduced: with this lock disabled, the thread test in tests/hsm segfaults every time, and a
  concurrent re-login left a 0-byte ``token.object``; a login rewrites that file). Scale with
  processes, not threads.
- A ``fork()`` never copies a half-finished PKCS#11 call into the child: the lock is taken before
  the fork (waiting up to `FORK_WAIT_SECONDS` for an in-flight call to finish) and handed back
  afterwards; the child always starts with the lock free. The child still has to re-initialise
  the library before using it (see `hsm.session`).
- `interprocess_lock` serialises library initialisation, login and key creation/destruction
  between processes sharing a token (without it 4 workers logging in at once failed in about
  half the rounds with NoSuchToken/GeneralError/"no user PIN", and 4 processes ensuring the same
  epoch key created up to 4 keys with one label). It never waits forever: after its timeout it
  raises `HsmUnavailable` (fail closed).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from crypto.keys import HsmUnavailable

#: The one lock around every PKCS#11 call in this process (re-entrant: a provider operation
#: holds it while it looks keys up, logs in again and retries).
HSM_LOCK = threading.RLock()

#: How long a fork waits for an in-flight PKCS#11 call before going ahead without the lock.
FORK_WAIT_SECONDS = 10.0

_held_for_fork = False


def _before_fork() -> None:
    global _held_for_fork
    _held_for_fork = HSM_LOCK.acquire(timeout=FORK_WAIT_SECONDS)


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        HSM_LOCK.release()


def _after_fork_in_child() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        HSM_LOCK.release()
    else:
        # Another thread of the parent held the lock through the fork; that thread does not exist
        # here, so the lock could never be released. Give the child a free lock (the library is
        # re-initialised in the child before its first use anyway).
        reinit = getattr(HSM_LOCK, "_at_fork_reinit", None)
        if reinit is not None:
            reinit()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


@contextmanager
def interprocess_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold the cross-process file lock at `path`; `HsmUnavailable` if not acquired in time.

    Take `HSM_LOCK` first (callers do), so only one thread per process ever waits on the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise HsmUnavailable(
            f"timed out after {timeout:g}s waiting for the HSM initialisation lock {str(path)!r}"
        ) from None
    try:
        yield
    finally:
        lock.release()
