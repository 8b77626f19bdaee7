"""Process-wide PKCS#11 library and token-session state. Every function here expects `HSM_LOCK`.

Guarantees:

- A module is loaded (``C_Initialize``) at most once per process, and re-initialised in a forked
  child before the child's first call; the parent's sessions are dropped in the child, never
  used, logged out or closed there.
- There is one logged-in session per (module, token) per process, shared by every provider
  instance for that token: PKCS#11 login state belongs to the application, not to a session, so a
  second, independent login would only fail with ``CKR_USER_ALREADY_LOGGED_IN``.
- A login failure never reveals the PIN: messages name the token and the PKCS#11 error only.
- Everything a session knows (key handles, public keys) is forgotten when it is replaced.

Known python-pkcs11 0.10.1 limitation: `Token.open(user_pin=...)` opens the session before it
calls ``C_Login`` and does not close it when the login fails, so each rejected login leaks one
(not logged-in) session handle inside the module until the library is finalised.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pkcs11
from pkcs11 import Attribute
from pkcs11.exceptions import (
    AnotherUserAlreadyLoggedIn,
    DeviceError,
    DeviceRemoved,
    GeneralError,
    KeyHandleInvalid,
    MultipleTokensReturned,
    NoSuchToken,
    ObjectHandleInvalid,
    PinExpired,
    PinIncorrect,
    PinInvalid,
    PinLenRange,
    PinLocked,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    TokenNotRecognised,
    UserAlreadyLoggedIn,
    UserNotLoggedIn,
    UserPinNotInitialized,
)
from pkcs11.types import Key, Object, Session, Token

from crypto.keys import HsmUnavailable

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Lib

_T = TypeVar("_T")

#: Errors meaning "this session (or its login) is gone": the cure is a fresh login, after which
#: the operation is tried again. `GeneralError`/`DeviceError` are included because SoftHSM2 and
#: network HSMs report a dropped connection or a half-initialised library that way.
LOST_SESSION_ERRORS: tuple[type[PKCS11Error], ...] = (
    SessionClosed,
    SessionHandleInvalid,
    UserNotLoggedIn,
    ObjectHandleInvalid,
    KeyHandleInvalid,
    TokenNotPresent,
    TokenNotRecognised,
    DeviceRemoved,
    DeviceError,
    GeneralError,
)

_PIN_REJECTED: tuple[type[PKCS11Error], ...] = (PinIncorrect, PinInvalid, PinLenRange, PinExpired)


def is_not_initialized(exc: PKCS11Error) -> bool:
    """python-pkcs11 has no class for CKR_CRYPTOKI_NOT_INITIALIZED; it raises a bare PKCS11Error."""
    return type(exc) is PKCS11Error and "not initialized" in str(exc)


def is_lost_session(exc: PKCS11Error) -> bool:
    """True if a fresh login (and, if needed, library re-initialisation) may cure `exc`."""
    return isinstance(exc, LOST_SESSION_ERRORS) or is_not_initialized(exc)


def first_or_none(objects: Iterator[_T]) -> _T | None:
    """First item of a python-pkcs11 search, always finishing the search (C_FindObjectsFinal).

    A search left suspended keeps the session's operation lock and would finish in whatever thread
    happens to garbage-collect it, outside `HSM_LOCK`.
    """
    try:
        return next(objects, None)
    finally:
        close = getattr(objects, "close", None)
        if close is not None:
            close()


class _Library:
    __slots__ = ("conf", "lib", "module_path", "pid", "stale")

    def __init__(self, module_path: str, lib: Pkcs11Lib, conf: str | None) -> None:
        self.module_path = module_path
        self.lib = lib
        self.conf = conf
        self.pid = os.getpid()
        self.stale = False


_LIBRARIES: dict[str, _Library] = {}
_CONNECTIONS: dict[tuple[str, str], TokenConnection] = {}


def _reinitialize(lib: Pkcs11Lib) -> None:
    """C_Finalize (tolerating CKR_CRYPTOKI_NOT_INITIALIZED, which SoftHSM2 returns in a forked
    child when ``library.reset_on_fork = true``) then C_Initialize."""
    with contextlib.suppress(PKCS11Error):  # python-pkcs11 clears `initialized` before raising
        lib.finalize()
    lib.initialize()


def _forget_connections(module_path: str) -> None:
    for (path, _label), conn in _CONNECTIONS.items():
        if path == module_path:
            conn.forget()


def load_library(module_path: str, softhsm_conf: Path | None) -> Pkcs11Lib:
    """The initialised module for this process; loads it, or re-initialises it after a fork.

    `softhsm_conf` is exported as SOFTHSM2_CONF before the first load (SoftHSM2 reads it only in
    C_Initialize); asking for another configuration once the module is loaded is refused.
    """
    conf = str(softhsm_conf.resolve()) if softhsm_conf is not None else None
    entry = _LIBRARIES.get(module_path)
    if entry is not None:
        if conf is not None and entry.conf != conf:
            raise HsmUnavailable(
                f"PKCS#11 module {module_path!r} is already initialised in this process with "
                f"SOFTHSM2_CONF={entry.conf!r}; it cannot switch to {conf!r} without a restart"
            )
        if entry.pid != os.getpid() or entry.stale:
            _forget_connections(module_path)
            try:
                _reinitialize(entry.lib)
            except PKCS11Error as exc:
                raise HsmUnavailable(
                    f"cannot re-initialise PKCS#11 module {module_path!r}: {type(exc).__name__}"
                ) from None
            entry.pid = os.getpid()
            entry.stale = False
        return entry.lib

    if conf is not None:
        os.environ["SOFTHSM2_CONF"] = conf
    try:
        lib = pkcs11.lib(module_path)
        if not lib.initialized:  # cached by python-pkcs11 and finalised by someone else
            lib.initialize()
    except PKCS11Error as exc:
        # The message is python-pkcs11's "OS exception while loading <path>: <dlerror>".
        raise HsmUnavailable(
            f"cannot load PKCS#11 module {module_path!r}: {type(exc).__name__}: {exc}"
        ) from None
    _LIBRARIES[module_path] = _Library(module_path, lib, os.environ.get("SOFTHSM2_CONF"))
    return lib


def mark_library_stale(module_path: str) -> None:
    """Have the next `load_library` re-initialise the module (it reported not-initialised)."""
    entry = _LIBRARIES.get(module_path)
    if entry is not None:
        entry.stale = True


def mark_stale_if_alone(module_path: str, token_label: str) -> None:
    """After a failed login: have the next attempt re-initialise the module, unless another
    token's session in this process would be cut off by that. A module that loaded a token while
    another process was writing it keeps a broken view of it until C_Initialize runs again."""
    if not _others_logged_in(module_path, token_label):
        mark_library_stale(module_path)


def _reset_library(module_path: str) -> Pkcs11Lib:
    entry = _LIBRARIES[module_path]
    entry.stale = True
    return load_library(module_path, None)


def connection(module_path: str, token_label: str) -> TokenConnection:
    """The shared connection object for this token in this process (not necessarily logged in)."""
    key = (module_path, token_label)
    conn = _CONNECTIONS.get(key)
    if conn is None or conn.pid != os.getpid():
        if conn is not None:
            conn.forget()  # the parent's: never touched in the child
        conn = TokenConnection(module_path, token_label)
        _CONNECTIONS[key] = conn
    return conn


def _others_logged_in(module_path: str, token_label: str) -> bool:
    return any(
        c.session is not None and c.pid == os.getpid()
        for (path, label), c in _CONNECTIONS.items()
        if path == module_path and label != token_label
    )


def _shutdown() -> None:
    """At interpreter exit: log out and finalise what this process opened, under `HSM_LOCK`.

    Otherwise python-pkcs11 finalises the module from a destructor during teardown, outside the
    lock; state inherited from a parent process is left alone.
    """
    from hsm.lock import HSM_LOCK

    with HSM_LOCK:
        pid = os.getpid()
        for conn in _CONNECTIONS.values():
            if conn.pid == pid:
                conn.logout()
        for entry in _LIBRARIES.values():
            if entry.pid == pid:
                with contextlib.suppress(PKCS11Error):
                    entry.lib.finalize()


atexit.register(_shutdown)


class TokenConnection:
    """One token's session in this process, its key-handle cache and its login witness."""

    def __init__(self, module_path: str, token_label: str) -> None:
        self.module_path = module_path
        self.token_label = token_label
        self.pid = os.getpid()
        self.session: Session | None = None
        #: (label, object class) -> key object bound to `session`.
        self.keys: dict[tuple[str, int], Key] = {}
        self.public_der: dict[str, bytes] = {}
        #: A private object seen right after login; reading it proves the login still holds.
        self.witness: Object | None = None
        #: Provider instances attached to this connection.
        self.users = 0

    def __repr__(self) -> str:
        state = "logged in" if self.session is not None else "not logged in"
        return f"<TokenConnection {self.token_label!r} {state}>"

    def forget(self) -> None:
        """Drop the session and everything bound to it without any PKCS#11 call."""
        self.session = None
        self.keys.clear()
        self.public_der.clear()
        self.witness = None

    def logout(self) -> None:
        """Log out and close the session if it is still there; never raises."""
        session = self.session
        self.forget()
        if session is not None and self.pid == os.getpid():
            # C_Logout then C_CloseSession; an error means already closed, logged out or finalised
            with contextlib.suppress(PKCS11Error):
                session.close()

    def login(self, lib: Pkcs11Lib, pin: str) -> None:
        """Replace the session with a freshly logged-in one (caller holds the init file lock).

        Raises `HsmUnavailable` for a missing token or a rejected PIN; other PKCS#11 errors
        propagate for the caller's bounded retry.
        """
        self.logout()
        token = self._find_token(lib)
        try:
            session = token.open(rw=True, user_pin=pin)
        except UserAlreadyLoggedIn:
            # Some session this connection does not own keeps the token logged in, so this
            # provider's PIN cannot be checked. Finalise the module (closing every session in the
            # process; other connections log in again on their next call) and try once more.
            lib = _reset_library(self.module_path)
            token = self._find_token(lib)
            try:
                session = token.open(rw=True, user_pin=pin)
            except PKCS11Error as exc:
                raise self._login_error(exc) from None
        except PKCS11Error as exc:
            raise self._login_error(exc) from None
        self.session = session
        self.witness = first_or_none(session.get_objects({Attribute.PRIVATE: True}))

    def _find_token(self, lib: Pkcs11Lib) -> Token:
        try:
            return lib.get_token(token_label=self.token_label)
        except NoSuchToken:
            pass
        except MultipleTokensReturned:
            raise HsmUnavailable(
                f"more than one token is labelled {self.token_label!r} in PKCS#11 module "
                f"{self.module_path!r}"
            ) from None
        if not _others_logged_in(self.module_path, self.token_label):
            # Tokens initialised after C_Initialize stay invisible until the module is
            # re-initialised (SoftHSM2 scans its token directory only then); with no other live
            # session in this process a rescan costs nothing.
            lib = _reset_library(self.module_path)
            try:
                return lib.get_token(token_label=self.token_label)
            except (NoSuchToken, MultipleTokensReturned):
                pass
        raise HsmUnavailable(
            f"no token labelled {self.token_label!r} in PKCS#11 module {self.module_path!r}"
        )

    def _login_error(self, exc: PKCS11Error) -> Exception:
        name = type(exc).__name__
        where = f"token {self.token_label!r}"
        if isinstance(exc, _PIN_REJECTED):
            return HsmUnavailable(f"user PIN rejected by {where} ({name})")
        if isinstance(exc, PinLocked):
            return HsmUnavailable(f"user PIN locked on {where}: a key custodian must reset it")
        if isinstance(exc, UserPinNotInitialized):
            return HsmUnavailable(f"{where} has no user PIN: initialise the token first")
        if isinstance(exc, AnotherUserAlreadyLoggedIn):
            return HsmUnavailable(f"a security-officer session is logged in on {where}")
        return exc  # transient: the caller retries a bounded number of times
