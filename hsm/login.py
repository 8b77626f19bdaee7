"""A provider instance's login to its token, and the bounded re-login loop around every operation.

Guarantees:

- Every operation runs under the process-wide `hsm.lock.HSM_LOCK`. Nothing touches the module
  when a `TokenLogin` is made: loading, ``C_Initialize`` and login happen on its first `run`,
  under the cross-process file lock at `init_lock_path`, and again in a forked child before the
  child's first call.
- A lost session (closed, logged out, handle invalid, module re-initialised) is cured by a fresh
  login, at most `max_retries` times per operation; after that the operation fails closed with
  `HsmUnavailable`. A miss that could be an artefact of a logged-out session (`SessionSuspect`)
  earns one extra re-login before it is believed.
- No PKCS#11 exception (nor the python-pkcs11 objects its traceback keeps alive) leaves `run`:
  unexpected ones become `HsmError` (or `KeyPurposeError`) naming the error type only.
- The PIN (`Pin`) never shows or pickles; it is never logged and never part of an exception
  message. `close` drops it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NoReturn, TypeVar

from pkcs11.exceptions import PKCS11Error

from crypto.keys import HsmError, HsmUnavailable, KeyPurposeError
from hsm.attempt import Attempt, SessionSuspect
from hsm.lock import HSM_LOCK, interprocess_lock
from hsm.session import (
    connection,
    is_lost_session,
    is_not_initialized,
    load_library,
    mark_library_stale,
    mark_stale_if_alone,
)

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Pin:
    """Holds the user PIN, or the callable that reads it at login; shows and pickles as nothing."""

    __slots__ = ("_source",)

    def __init__(self, source: str | Callable[[], str]) -> None:
        self._source = source

    def reveal(self, token_label: str) -> str:
        """The PIN; `HsmUnavailable` (naming only the error type) if its source fails."""
        source = self._source
        if isinstance(source, str):
            return source
        try:
            pin = source()
        except Exception as exc:  # any failure of the PIN source fails closed
            raise HsmUnavailable(
                f"cannot read the user PIN for token {token_label!r} ({type(exc).__name__})"
            ) from exc
        if not isinstance(pin, str) or not pin:
            raise HsmUnavailable(f"the PIN source for token {token_label!r} gave no PIN")
        return pin

    def __repr__(self) -> str:
        return "<PIN redacted>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a PIN cannot be pickled")


class TokenLogin:
    """One provider instance's hold on its token: lazy login, attachment, re-login and close.

    Retries: an attempt that meets a lost session (closed, logged out, invalid handle, module not
    initialised, GeneralError/DeviceError) logs in afresh and runs again, up to `max_retries`
    times, then raises `HsmUnavailable`. A miss (no object with the label) on a session that was
    not logged in during this attempt is first checked against a key known to need the login; if
    that cannot be shown, one extra re-login (not counted in `max_retries`) precedes the verdict.

    Forking: with or without SoftHSM2's ``library.reset_on_fork``, a forked child re-initialises
    the module (C_Finalize, tolerating the CKR_CRYPTOKI_NOT_INITIALIZED that ``reset_on_fork``
    produces, then C_Initialize) and logs in again before its first call. Measured on SoftHSM2
    2.6.1: the fork tests passed 10/10 runs with either setting, and a forked child's first call
    (re-initialise, log in, HMAC) took 7.0 ms with ``reset_on_fork = true`` and 7.6 ms without,
    so the provider does not depend on it. `hsm.softhsm.write_softhsm_config` writes
    ``reset_on_fork = true`` anyway: without it a child can silently keep using the parent's
    logged-in session (measured: it works), with it SoftHSM2 refuses (CKR_CRYPTOKI_NOT_INITIALIZED),
    so a bug that reused an inherited session would fail closed instead of sharing state.
    """

    def __init__(
        self,
        module_path: str,
        token_label: str,
        pin: str | Callable[[], str],
        init_lock_path: str | Path,
        max_retries: int,
        softhsm_conf: str | Path | None,
        lock_timeout: float,
    ) -> None:
        if not module_path:
            raise ValueError("module_path is empty")
        if not token_label:
            raise ValueError("token_label is empty")
        if not (callable(pin) or (isinstance(pin, str) and pin)):
            raise ValueError("the PIN must be a non-empty string or a callable returning one")
        if not 0 <= max_retries <= 10:
            raise ValueError("max_retries must be between 0 and 10")
        self.module_path = str(module_path)
        self.token_label = token_label
        self._pin = Pin(pin)
        self._init_lock_path = Path(init_lock_path)
        self._softhsm_conf = Path(softhsm_conf) if softhsm_conf is not None else None
        self._max_retries = max_retries
        self._lock_timeout = lock_timeout
        self._auth_pid: int | None = None  # process in which this instance's PIN was accepted
        self._attached_pid: int | None = None  # process whose connection counts this instance
        self._closed = False

    def __repr__(self) -> str:
        return f"TokenLogin(module={self.module_path!r}, token={self.token_label!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a TokenLogin holds a PIN and cannot be pickled")

    def exclusive(self) -> AbstractContextManager[None]:
        """The cross-process lock logins run under; also held to create or destroy keys."""
        return interprocess_lock(self._init_lock_path, self._lock_timeout)

    def close(self) -> None:
        """Detach from the token; the last instance in the process logs out. Idempotent.

        Afterwards `run` raises `HsmUnavailable`; the PIN is dropped.
        """
        with HSM_LOCK:
            if self._closed:
                return
            self._closed = True
            self._pin = Pin("")
            if self._attached_pid == os.getpid():
                conn = connection(self.module_path, self.token_label)
                conn.users -= 1
                if conn.users <= 0:
                    conn.users = 0
                    conn.logout()
            self._attached_pid = None
            self._auth_pid = None

    def run(self, fn: Callable[[Attempt], _T]) -> _T:
        """`fn` on a logged-in session: logs in first if needed, and again after a lost session."""
        with HSM_LOCK:
            if self._closed:
                raise HsmUnavailable(f"the key provider for token {self.token_label!r} is closed")
            failures = 0
            confirmed = False
            while True:
                failure: HsmError | None = None
                try:
                    return fn(self._begin())
                except SessionSuspect as exc:
                    reason = f"login not confirmed ({exc})"
                    if not confirmed:  # one re-login to confirm a miss is not a failure
                        confirmed = True
                        self._drop_session()
                        continue
                except PKCS11Error as exc:
                    if is_lost_session(exc):
                        if is_not_initialized(exc):
                            mark_library_stale(self.module_path)
                        reason = type(exc).__name__
                    else:
                        failure = self._unexpected(exc)
                # Raised here, outside the except clauses, so that no PKCS#11 exception (and the
                # python-pkcs11 operation objects its traceback keeps alive) outlives HSM_LOCK.
                if failure is not None:
                    raise failure
                failures += 1
                self._drop_session()
                if failures > self._max_retries:
                    raise HsmUnavailable(
                        f"lost the session to token {self.token_label!r} ({reason}) and "
                        f"{self._max_retries} fresh login(s) did not restore it"
                    )
                _log.warning(
                    "HSM session to token %r lost (%s); logging in again (%d/%d)",
                    self.token_label,
                    reason,
                    failures,
                    self._max_retries,
                )

    def _begin(self) -> Attempt:
        pid = os.getpid()
        conn = connection(self.module_path, self.token_label)
        fresh = False
        if conn.session is None or self._auth_pid != pid:
            with self.exclusive():
                lib = load_library(self.module_path, self._softhsm_conf)
                conn = connection(self.module_path, self.token_label)
                try:
                    conn.login(lib, self._pin.reveal(self.token_label))
                except PKCS11Error as exc:
                    if is_lost_session(exc):
                        mark_stale_if_alone(self.module_path, self.token_label)
                        raise  # transient: retried by run
                    raise HsmUnavailable(
                        f"cannot log in to token {self.token_label!r}: {type(exc).__name__}"
                    ) from None
            self._auth_pid = pid
            fresh = True
        if self._attached_pid != pid:
            conn.users += 1
            self._attached_pid = pid
        session = conn.session
        if session is None:
            raise HsmUnavailable(f"no session to token {self.token_label!r} after login")
        return Attempt(conn, session, fresh)

    def _drop_session(self) -> None:
        connection(self.module_path, self.token_label).logout()

    def _unexpected(self, exc: PKCS11Error) -> HsmError:
        name = type(exc).__name__
        if "0x68" in str(exc):  # CKR_KEY_FUNCTION_NOT_PERMITTED (unmapped in python-pkcs11)
            return KeyPurposeError(f"token {self.token_label!r} refused the key for this use")
        return HsmError(f"PKCS#11 error on token {self.token_label!r}: {name}")
