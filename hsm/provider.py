"""`Pkcs11KeyProvider`: the `crypto.keys.KeyProvider` backed by a PKCS#11 token.

Guarantees (on top of those of `crypto.keys`):

- Key material never leaves the token: AES-256-GCM wrap/unwrap, HMAC-SHA256 and ECDSA P-256 run
  inside the module on non-extractable keys; the host only hashes messages for ECDSA and draws
  GCM nonces (96 bits from ``os.urandom``, a fresh one for every attempt).
- Each key does only its own operation. A label of the wrong purpose is refused with
  `KeyPurposeError` before the token is asked anything, and a key found on the token is used only
  if its type and attributes fit its purpose (see `hsm.keyspec`).
- Every PKCS#11 call runs under the process-wide `hsm.lock.HSM_LOCK`, whichever instance or thread
  makes it. Nothing touches the module in ``__init__``: loading, ``C_Initialize`` and login
  happen on first use, once per process, under the cross-process file lock at `init_lock_path`.
  A forked child (gunicorn worker) re-initialises the module and logs in again before its first
  call; it never uses the parent's session.
- A lost session (closed, logged out, handle invalid, module re-initialised) is cured by a fresh
  login, at most `max_retries` times per call; after that the call fails closed with
  `HsmUnavailable`. A key is reported missing (`KeyNotFound`, ``has_key`` False) only by a
  session whose login has just been made or proven still valid: a logged-out session sees no
  private objects and would otherwise report every key as missing.
- Fails closed: unloadable module (`HsmUnavailable` naming the path), unknown token
  (`HsmUnavailable` naming the label), rejected PIN (`HsmUnavailable`, "PIN rejected", no PIN),
  absent key (`KeyNotFound` naming the label), GCM authentication failure (`KeyIntegrityError`).
  No method returns partial or default bytes.
- The PIN lives only in this instance, wrapped so that ``repr``, ``vars`` dumps and pickling
  never show it; it is never logged and never part of an exception message. `close` drops it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from pkcs11 import Mechanism, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, PublicKey, SignMixin, VerifyMixin
from pkcs11.util.ec import encode_ec_public_key

from crypto.keys import (
    HsmError,
    HsmUnavailable,
    KeyIntegrityError,
    KeyPurposeError,
    MacKey,
    SigningKey,
    is_wrapping_label,
)
from hsm.call import (
    GCM_REJECTIONS,
    NONCE_BYTES,
    TAG_BYTES,
    Call,
    Pin,
    SessionSuspect,
    as_bytes,
    describe,
)
from hsm.keyspec import KeyKind, generate, is_epoch_label, kind_of
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


class Pkcs11KeyProvider:
    """`crypto.keys.KeyProvider` on a PKCS#11 token (SoftHSM2 in development, an HSM in production).

    `pin` is the user PIN or a callable returning it; a callable is called at each login and its
    result not kept (a PIN file is read when needed), and any failure of it is `HsmUnavailable`.
    `softhsm_conf`, if given, is exported as SOFTHSM2_CONF before the module is first loaded in
    this process. `lock_timeout` bounds the wait for the cross-process init lock.

    Retries: a call that meets a lost session (closed, logged out, invalid handle, module not
    initialised, GeneralError/DeviceError) logs in afresh and runs again, up to `max_retries`
    times, then raises `HsmUnavailable`. A miss (no object with the label) on a session that was
    not logged in during this call is first checked against a key known to need the login; if
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
        max_retries: int = 2,
        *,
        softhsm_conf: str | Path | None = None,
        lock_timeout: float = 60.0,
    ) -> None:
        if not module_path:
            raise ValueError("module_path is empty")
        if not token_label:
            raise ValueError("token_label is empty")
        if not (callable(pin) or (isinstance(pin, str) and pin)):
            raise ValueError("the PIN must be a non-empty string or a callable returning one")
        if not 0 <= max_retries <= 10:
            raise ValueError("max_retries must be between 0 and 10")
        self._module_path = str(module_path)
        self._token_label = token_label
        self._pin = Pin(pin)
        self._init_lock_path = Path(init_lock_path)
        self._softhsm_conf = Path(softhsm_conf) if softhsm_conf is not None else None
        self._max_retries = max_retries
        self._lock_timeout = lock_timeout
        self._auth_pid: int | None = None  # process in which this instance's PIN was accepted
        self._attached_pid: int | None = None  # process whose connection counts this instance
        self._closed = False

    # ------------------------------------------------------------------ housekeeping

    @property
    def module_path(self) -> str:
        return self._module_path

    @property
    def token_label(self) -> str:
        return self._token_label

    def __repr__(self) -> str:
        return f"Pkcs11KeyProvider(module={self._module_path!r}, token={self._token_label!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("Pkcs11KeyProvider holds a PIN and cannot be pickled; make one per process")

    def __enter__(self) -> Pkcs11KeyProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Detach from the token; the last instance in the process logs out. Idempotent.

        Afterwards every operation raises `HsmUnavailable`; the PIN is dropped.
        """
        with HSM_LOCK:
            if self._closed:
                return
            self._closed = True
            self._pin = Pin("")
            if self._attached_pid == os.getpid():
                conn = connection(self._module_path, self._token_label)
                conn.users -= 1
                if conn.users <= 0:
                    conn.users = 0
                    conn.logout()
            self._attached_pid = None
            self._auth_pid = None

    def connect(self) -> None:
        """Load the module and log in now (e.g. as a worker's readiness check); idempotent."""
        self._call(lambda call: None)

    # ------------------------------------------------------------------ plumbing

    def _begin(self) -> Call:
        pid = os.getpid()
        conn = connection(self._module_path, self._token_label)
        fresh = False
        if conn.session is None or self._auth_pid != pid:
            with interprocess_lock(self._init_lock_path, self._lock_timeout):
                lib = load_library(self._module_path, self._softhsm_conf)
                conn = connection(self._module_path, self._token_label)
                try:
                    conn.login(lib, self._pin.reveal(self._token_label))
                except PKCS11Error as exc:
                    if is_lost_session(exc):
                        mark_stale_if_alone(self._module_path, self._token_label)
                        raise  # transient: retried by _call
                    raise HsmUnavailable(
                        f"cannot log in to token {self._token_label!r}: {type(exc).__name__}"
                    ) from None
            self._auth_pid = pid
            fresh = True
        if self._attached_pid != pid:
            conn.users += 1
            self._attached_pid = pid
        session = conn.session
        if session is None:
            raise HsmUnavailable(f"no session to token {self._token_label!r} after login")
        return Call(conn, session, fresh)

    def _call(self, fn: Callable[[Call], _T]) -> _T:
        with HSM_LOCK:
            if self._closed:
                raise HsmUnavailable(f"the key provider for token {self._token_label!r} is closed")
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
                            mark_library_stale(self._module_path)
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
                        f"lost the session to token {self._token_label!r} ({reason}) and "
                        f"{self._max_retries} fresh login(s) did not restore it"
                    )
                _log.warning(
                    "HSM session to token %r lost (%s); logging in again (%d/%d)",
                    self._token_label,
                    reason,
                    failures,
                    self._max_retries,
                )

    def _drop_session(self) -> None:
        connection(self._module_path, self._token_label).logout()

    def _unexpected(self, exc: PKCS11Error) -> HsmError:
        name = type(exc).__name__
        if "0x68" in str(exc):  # CKR_KEY_FUNCTION_NOT_PERMITTED (unmapped in python-pkcs11)
            return KeyPurposeError(f"token {self._token_label!r} refused the key for this use")
        return HsmError(f"PKCS#11 error on token {self._token_label!r}: {name}")

    @staticmethod
    def _wrapping_label(label: str) -> str:
        if not isinstance(label, str) or not is_wrapping_label(label):
            raise KeyPurposeError(f"{label!r} is not a wrapping key")
        return str(label)

    @staticmethod
    def _mac_label(key: MacKey) -> str:
        try:
            return MacKey(key).value
        except ValueError:
            raise KeyPurposeError(f"{key!r} is not a MAC key") from None

    @staticmethod
    def _signing_label(key: SigningKey) -> str:
        try:
            return SigningKey(key).value
        except ValueError:
            raise KeyPurposeError(f"{key!r} is not a signing key") from None

    # ------------------------------------------------------------------ KeyProvider

    def wrap(self, wrapping_label: str, key_bytes: bytes, aad: bytes) -> bytes:
        """AES-256-GCM in the token: nonce (12) || ciphertext || tag (16), bound to `aad`."""
        label = self._wrapping_label(wrapping_label)
        plaintext, aad_ = bytes(key_bytes), bytes(aad)

        def op(call: Call) -> bytes:
            key = call.key(label, KeyKind.WRAP, ObjectClass.SECRET_KEY)
            if not isinstance(key, EncryptMixin):
                raise KeyPurposeError(f"{label!r} cannot encrypt")
            nonce = os.urandom(NONCE_BYTES)
            sealed = as_bytes(
                key.encrypt(
                    plaintext,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, aad_, TAG_BYTES * 8),
                )
            )
            if len(sealed) != len(plaintext) + TAG_BYTES:
                raise HsmError("AES-GCM output of unexpected length")
            return nonce + sealed

        return self._call(op)

    def unwrap(self, wrapping_label: str, wrapped: bytes, aad: bytes) -> bytes:
        """Inverse of `wrap`; `KeyIntegrityError` for a wrong key, wrong AAD or any altered bit."""
        label = self._wrapping_label(wrapping_label)
        blob, aad_ = bytes(wrapped), bytes(aad)
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise KeyIntegrityError(f"wrapped key for {label!r} is too short to authenticate")
        params = GCMParams(blob[:NONCE_BYTES], aad_, TAG_BYTES * 8)
        body = blob[NONCE_BYTES:]

        def op(call: Call) -> bytes:
            key = call.key(label, KeyKind.WRAP, ObjectClass.SECRET_KEY)
            if not isinstance(key, DecryptMixin):
                raise KeyPurposeError(f"{label!r} cannot decrypt")
            try:
                return as_bytes(
                    key.decrypt(body, mechanism=Mechanism.AES_GCM, mechanism_param=params)
                )
            except GCM_REJECTIONS:
                if call.gcm_key_works(key):
                    raise KeyIntegrityError(
                        f"wrapped key did not authenticate under {label!r} "
                        "(wrong key or AAD, or altered)"
                    ) from None
                raise  # the module, not the ciphertext, is failing: retried / HsmUnavailable

        return self._call(op)

    def hmac_sha256(self, key: MacKey, message: bytes) -> bytes:
        """HMAC-SHA256 in the token under the named generic-secret key (32 bytes)."""
        label = self._mac_label(key)
        data = bytes(message)

        def op(call: Call) -> bytes:
            mac_key = call.key(label, KeyKind.MAC, ObjectClass.SECRET_KEY)
            if not isinstance(mac_key, SignMixin):
                raise KeyPurposeError(f"{label!r} cannot MAC")
            mac = mac_key.sign(data, mechanism=Mechanism.SHA256_HMAC)
            if len(mac) != 32:
                raise HsmError("HMAC-SHA256 output of unexpected length")
            return mac

        return self._call(op)

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256(message) (hashed here, signed in the token): raw r||s."""
        label = self._signing_label(key)
        digest = hashlib.sha256(bytes(message)).digest()

        def op(call: Call) -> bytes:
            private = call.key(label, KeyKind.SIGN, ObjectClass.PRIVATE_KEY)
            if not isinstance(private, SignMixin):
                raise KeyPurposeError(f"{label!r} cannot sign")
            signature = private.sign(digest, mechanism=Mechanism.ECDSA)
            if len(signature) != 64:
                raise HsmError("ECDSA signature of unexpected length")
            return signature

        return self._call(op)

    def verify(self, key: SigningKey, message: bytes, signature: bytes) -> bool:
        """True iff `signature` (raw r||s) is valid; False (never an exception) if it is not."""
        label = self._signing_label(key)
        digest = hashlib.sha256(bytes(message)).digest()
        sig = bytes(signature)
        if len(sig) != 64:
            return False

        def op(call: Call) -> bool:
            public = call.key(label, KeyKind.SIGN, ObjectClass.PUBLIC_KEY)
            if not isinstance(public, VerifyMixin):
                raise KeyPurposeError(f"{label!r} cannot verify")
            return public.verify(digest, sig, mechanism=Mechanism.ECDSA)

        return self._call(op)

    def public_key_der(self, key: SigningKey) -> bytes:
        """DER SubjectPublicKeyInfo of the named signing key (cached per session)."""
        label = self._signing_label(key)

        def op(call: Call) -> bytes:
            cached = call.conn.public_der.get(label)
            if cached is not None:
                return cached
            public = call.key(label, KeyKind.SIGN, ObjectClass.PUBLIC_KEY)
            if not isinstance(public, PublicKey):
                raise KeyPurposeError(f"{label!r} has no public key")
            der = encode_ec_public_key(public)
            call.conn.public_der[label] = der
            return der

        return self._call(op)

    def has_key(self, label: str) -> bool:
        """True if the token holds a key object labelled `label` (confirmed-login answer)."""
        name = str(label)

        def op(call: Call) -> bool:
            if call.objects(name):
                return True
            call.confirm_absent()
            return False

        return self._call(op)

    def ensure_epoch_key(self, label: str) -> None:
        """Create the expiry-epoch wrapping key if absent; never replaces an existing one."""
        if not isinstance(label, str) or not is_epoch_label(label):
            raise KeyPurposeError(f"{label!r} is not an expiry-epoch key label")
        self.ensure_key(label)

    def destroy_epoch_key(self, label: str) -> bool:
        """Destroy the expiry-epoch key (crypto-shredding); True if it existed. Irreversible.

        Only epoch labels are accepted: the master, MAC and signing keys cannot be destroyed here.
        """
        if not isinstance(label, str) or not is_epoch_label(label):
            raise KeyPurposeError(f"{label!r} is not an expiry-epoch key; refusing to destroy it")
        destroyed = False

        def op(call: Call) -> bool:
            nonlocal destroyed
            with interprocess_lock(self._init_lock_path, self._lock_timeout):
                found = call.objects(label)
                call.evict(label)
                if not found:
                    call.confirm_absent()
                    return destroyed
                for obj in found:
                    obj.destroy()
                destroyed = True
                return True

        return self._call(op)

    # ------------------------------------------------------------------ provisioning / audit

    def key_attributes(self, label: str) -> list[dict[str, object]]:
        """Audit view of each key object labelled `label`: class, type, protection and
        capability flags, and whether the token would reveal its value (it must not). Never
        returns key material; empty if there is no such key."""
        name = str(label)

        def op(call: Call) -> list[dict[str, object]]:
            found = call.objects(name)
            if not found:
                call.confirm_absent()
            return [describe(obj) for obj in found]

        return self._call(op)

    def ensure_key(self, label: str) -> bool:
        """Create the CreditGate key (pair) `label` if it is absent; True if created now.

        Never regenerates or overwrites: an existing key, a half key pair or a key with the wrong
        template is left alone (the latter two raise `HsmError`/`KeyPurposeError`). The check and
        the creation happen under the cross-process lock, so concurrent callers create it once.
        """
        kind = kind_of(label)
        created = False

        def op(call: Call) -> bool:
            nonlocal created
            if call.present(label, kind):
                return created
            with interprocess_lock(self._init_lock_path, self._lock_timeout):
                if call.present(label, kind):  # another process was faster
                    return created
                generate(call.session, label, kind)
                created = True
            call.evict(label)
            if not call.present(label, kind):
                raise HsmError(f"key {label!r} was generated but cannot be found")
            return True

        return self._call(op)
