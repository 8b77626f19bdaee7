"""`fdatasync` started now and waited for later: Linux native AIO (`IOCB_CMD_FDSYNC`).

A query's writing unit commits, and its answer may leave only once that commit is on disk
(`app.group_commit`). A plain `fdatasync` makes the worker wait for the disk, doing nothing,
before it even starts building the answer. Started through Linux AIO instead, the flush runs in
the kernel while the worker builds the answer, and the worker waits (`Flush.wait`) only for
what is left of it just before the answer is sent.

Guarantees:
- `Flush.wait` returns only once the kernel reports the whole `fdatasync` done, with the same
  meaning as `os.fdatasync` on the file; any error reported (or no report at all) raises
  `OSError`, never passes silently;
- `start` returns None where asynchronous flushes are not available (not Linux on x86_64 or
  arm64, an AIO context cannot be set up, the file's file system refuses an asynchronous
  `fdatasync`); the caller then syncs synchronously. Nothing is ever skipped;
- one AIO context per thread and process (a forked worker sets up its own; a thread's is
  destroyed when the thread ends), with at most one flush in flight on it: `start` first
  reaps the one before, so a `wait` always reaps its own flush and no other; the file
  descriptor stays open until the flush is reaped.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import threading
from typing import ClassVar

#: The AIO system calls: (io_setup, io_getevents, io_submit, io_destroy) per machine.
_SYSCALLS = {"x86_64": (206, 208, 209, 207), "aarch64": (0, 4, 2, 1)}
_IOCB_CMD_FDSYNC = 3
_SUPPORTED = platform.system() == "Linux" and platform.machine() in _SYSCALLS
_SETUP, _GETEVENTS, _SUBMIT, _DESTROY = _SYSCALLS.get(platform.machine(), (-1, -1, -1, -1))
_ONE = ctypes.c_long(1)


class _Iocb(ctypes.Structure):
    """`struct iocb` of <linux/aio_abi.h> (little-endian layout)."""

    _fields_: ClassVar = [
        ("aio_data", ctypes.c_uint64),
        ("aio_key", ctypes.c_uint32),
        ("aio_rw_flags", ctypes.c_int32),
        ("aio_lio_opcode", ctypes.c_uint16),
        ("aio_reqprio", ctypes.c_int16),
        ("aio_fildes", ctypes.c_uint32),
        ("aio_buf", ctypes.c_uint64),
        ("aio_nbytes", ctypes.c_uint64),
        ("aio_offset", ctypes.c_int64),
        ("aio_reserved2", ctypes.c_uint64),
        ("aio_flags", ctypes.c_uint32),
        ("aio_resfd", ctypes.c_uint32),
    ]


class _Event(ctypes.Structure):
    """`struct io_event`."""

    _fields_: ClassVar = [
        ("data", ctypes.c_uint64),
        ("obj", ctypes.c_uint64),
        ("res", ctypes.c_int64),
        ("res2", ctypes.c_int64),
    ]


class _Context:
    """A thread's AIO context; destroyed with the thread's local storage."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.pid = os.getpid()
        self.in_flight: Flush | None = None
        # bound now: at interpreter exit this module's globals may already be gone
        self._destroy = functools.partial(_syscall, _DESTROY, ctypes.c_ulong(handle))
        self._getpid = os.getpid

    def __del__(self) -> None:
        if self.pid == self._getpid():
            self._destroy()


class Flush:
    """One `fdatasync` in flight. `wait` reaps it (once) and closes the file."""

    def __init__(self, context: _Context, fd: int, request: _Iocb) -> None:
        self._context = context
        self._fd = fd
        self._request = request  # the kernel reads it until the flush is reaped
        self._done = False

    def wait(self) -> None:
        """Return once the flush is done; `OSError` if it failed (the file is closed either
        way)."""
        if self._done:
            return
        try:
            event = _Event()
            while True:
                handle = ctypes.c_ulong(self._context.handle)
                got = _syscall(_GETEVENTS, handle, _ONE, _ONE, ctypes.byref(event), None)
                if got == 1:
                    break
                code = ctypes.get_errno()
                if got < 0 and code == errno.EINTR:
                    continue
                raise OSError(code or errno.EIO, "the asynchronous flush was not reported")
            if event.res < 0:
                raise OSError(-event.res, os.strerror(-event.res))
        finally:
            self._done = True
            if self._context.in_flight is self:
                self._context.in_flight = None
            os.close(self._fd)


_local = threading.local()


def start(path: os.PathLike[str] | str) -> Flush | None:
    """Start an `fdatasync` of the file at `path` and return it, or None when this system
    cannot flush asynchronously (then call `os.fdatasync` yourself). Raises `OSError` if the
    file cannot be opened (FileNotFoundError included)."""
    context = _context()
    if context is None:
        return None
    if context.in_flight is not None:
        earlier, context.in_flight = context.in_flight, None
        earlier.wait()
    fd = os.open(path, os.O_RDONLY)
    request = _Iocb(aio_lio_opcode=_IOCB_CMD_FDSYNC, aio_fildes=fd)
    requests = (ctypes.POINTER(_Iocb) * 1)(ctypes.pointer(request))
    if _syscall(_SUBMIT, ctypes.c_ulong(context.handle), _ONE, requests) == 1:
        context.in_flight = Flush(context, fd, request)
        return context.in_flight
    code = ctypes.get_errno()
    os.close(fd)
    if code == errno.ENOSYS:  # a kernel without AIO: synchronous flushes from now on
        _local.unavailable = os.getpid()
        return None
    if code in (errno.EINVAL, errno.EOPNOTSUPP):  # this file cannot be flushed asynchronously
        return None
    raise OSError(code or errno.EIO, "the asynchronous flush could not be started")


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    """syscall(2); every argument a C long or a pointer (the kernel reads whole registers)."""
    return int(_libc.syscall(ctypes.c_long(number), *args))


def _context() -> _Context | None:
    """This thread's AIO context in this process, set up on first use; None if unavailable."""
    pid = os.getpid()
    if getattr(_local, "unavailable", None) == pid:
        return None
    context: _Context | None = getattr(_local, "context", None)
    if context is not None and context.pid == pid:
        return context
    handle = ctypes.c_ulong(0)
    if not _SUPPORTED or _syscall(_SETUP, ctypes.c_long(4), ctypes.byref(handle)) != 0:
        _local.unavailable = pid
        return None
    created = _Context(handle.value)
    _local.context = created
    return created
