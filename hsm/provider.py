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
- The PIN lives only in this instance (its `hsm.login.TokenLogin`), wrapped so that ``repr``,
  ``vars`` dumps and pickling never show it; it is never logged and never part of an exception
  message. `close` drops it.

Login and the re-login loop are `hsm.login`'s, the key lookup of one try `hsm.attempt`'s, and
key management (create, check, audit, destroy) `hsm.lifecycle`'s.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from pkcs11 import Mechanism, ObjectClass
from pkcs11.exceptions import (
    DataInvalid,
    DataLenRange,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    FunctionFailed,
    GeneralError,
    PKCS11Error,
)
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, Key, PublicKey, SignMixin, VerifyMixin
from pkcs11.util.ec import encode_ec_public_key

from crypto.keys import (
    HsmError,
    KeyIntegrityError,
    KeyPurposeError,
    MacKey,
    SigningKey,
    is_wrapping_label,
)
from hsm.attempt import Attempt
from hsm.keyspec import KeyKind
from hsm.lifecycle import TokenKeyStore
from hsm.login import TokenLogin

NONCE_BYTES = 12
TAG_BYTES = 16
#: What a GCM authentication failure looks like: SoftHSM2 2.6 says CKR_GENERAL_ERROR, the
#: standard answer is CKR_ENCRYPTED_DATA_INVALID. Told apart from a failing module by a probe.
GCM_REJECTIONS: tuple[type[PKCS11Error], ...] = (
    GeneralError,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    DataInvalid,
    DataLenRange,
    FunctionFailed,
)


def _as_bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise HsmError("PKCS#11 module returned a stream where bytes were expected")
    return value


def _gcm_key_works(key: Key) -> bool:
    """Whether `key` still encrypts and decrypts; tells a bad ciphertext from a bad module."""
    if not (isinstance(key, EncryptMixin) and isinstance(key, DecryptMixin)):
        return False
    params = GCMParams(os.urandom(NONCE_BYTES), b"probe", TAG_BYTES * 8)
    try:
        sealed = _as_bytes(
            key.encrypt(bytes(16), mechanism=Mechanism.AES_GCM, mechanism_param=params)
        )
        opened = key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params)
    except PKCS11Error:
        return False
    return opened == bytes(16)


class Pkcs11KeyProvider(TokenKeyStore):
    """`crypto.keys.KeyProvider` on a PKCS#11 token (SoftHSM2 in development, an HSM in production).

    `pin` is the user PIN or a callable returning it; a callable is called at each login and its
    result not kept (a PIN file is read when needed), and any failure of it is `HsmUnavailable`.
    `softhsm_conf`, if given, is exported as SOFTHSM2_CONF before the module is first loaded in
    this process. `lock_timeout` bounds the wait for the cross-process init lock.

    Login, the bounded re-login after a lost session (`max_retries`) and the re-initialisation
    of the module in a forked child are `hsm.login.TokenLogin`'s; see there. Key management
    (`has_key`, `ensure_key`, `ensure_epoch_key`, `destroy_epoch_key`, `key_attributes`) is
    inherited from `hsm.lifecycle.TokenKeyStore`.
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
        super().__init__(
            TokenLogin(
                module_path,
                token_label,
                pin,
                init_lock_path,
                max_retries,
                softhsm_conf,
                lock_timeout,
            )
        )

    # ------------------------------------------------------------------ housekeeping

    @property
    def module_path(self) -> str:
        return self._login.module_path

    @property
    def token_label(self) -> str:
        return self._login.token_label

    def __repr__(self) -> str:
        return f"Pkcs11KeyProvider(module={self.module_path!r}, token={self.token_label!r})"

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
        self._login.close()

    def connect(self) -> None:
        """Load the module and log in now (e.g. as a worker's readiness check); idempotent."""
        self._login.run(lambda attempt: None)

    # ------------------------------------------------------------------ label checks

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

        def op(attempt: Attempt) -> bytes:
            key = attempt.key(label, KeyKind.WRAP, ObjectClass.SECRET_KEY)
            if not isinstance(key, EncryptMixin):
                raise KeyPurposeError(f"{label!r} cannot encrypt")
            nonce = os.urandom(NONCE_BYTES)
            sealed = _as_bytes(
                key.encrypt(
                    plaintext,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, aad_, TAG_BYTES * 8),
                )
            )
            if len(sealed) != len(plaintext) + TAG_BYTES:
                raise HsmError("AES-GCM output of unexpected length")
            return nonce + sealed

        return self._login.run(op)

    def unwrap(self, wrapping_label: str, wrapped: bytes, aad: bytes) -> bytes:
        """Inverse of `wrap`; `KeyIntegrityError` for a wrong key, wrong AAD or any altered bit."""
        label = self._wrapping_label(wrapping_label)
        blob, aad_ = bytes(wrapped), bytes(aad)
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise KeyIntegrityError(f"wrapped key for {label!r} is too short to authenticate")
        params = GCMParams(blob[:NONCE_BYTES], aad_, TAG_BYTES * 8)
        body = blob[NONCE_BYTES:]

        def op(attempt: Attempt) -> bytes:
            key = attempt.key(label, KeyKind.WRAP, ObjectClass.SECRET_KEY)
            if not isinstance(key, DecryptMixin):
                raise KeyPurposeError(f"{label!r} cannot decrypt")
            try:
                return _as_bytes(
                    key.decrypt(body, mechanism=Mechanism.AES_GCM, mechanism_param=params)
                )
            except GCM_REJECTIONS:
                if _gcm_key_works(key):
                    raise KeyIntegrityError(
                        f"wrapped key did not authenticate under {label!r} "
                        "(wrong key or AAD, or altered)"
                    ) from None
                raise  # the module, not the ciphertext, is failing: retried / HsmUnavailable

        return self._login.run(op)

    def hmac_sha256(self, key: MacKey, message: bytes) -> bytes:
        """HMAC-SHA256 in the token under the named generic-secret key (32 bytes)."""
        label = self._mac_label(key)
        data = bytes(message)

        def op(attempt: Attempt) -> bytes:
            mac_key = attempt.key(label, KeyKind.MAC, ObjectClass.SECRET_KEY)
            if not isinstance(mac_key, SignMixin):
                raise KeyPurposeError(f"{label!r} cannot MAC")
            mac = mac_key.sign(data, mechanism=Mechanism.SHA256_HMAC)
            if len(mac) != 32:
                raise HsmError("HMAC-SHA256 output of unexpected length")
            return mac

        return self._login.run(op)

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256(message) (hashed here, signed in the token): raw r||s."""
        label = self._signing_label(key)
        digest = hashlib.sha256(bytes(message)).digest()

        def op(attempt: Attempt) -> bytes:
            private = attempt.key(label, KeyKind.SIGN, ObjectClass.PRIVATE_KEY)
            if not isinstance(private, SignMixin):
                raise KeyPurposeError(f"{label!r} cannot sign")
            signature = private.sign(digest, mechanism=Mechanism.ECDSA)
            if len(signature) != 64:
                raise HsmError("ECDSA signature of unexpected length")
            return signature

        return self._login.run(op)

    def verify(self, key: SigningKey, message: bytes, signature: bytes) -> bool:
        """True iff `signature` (raw r||s) is valid; False (never an exception) if it is not."""
        label = self._signing_label(key)
        digest = hashlib.sha256(bytes(message)).digest()
        sig = bytes(signature)
        if len(sig) != 64:
            return False

        def op(attempt: Attempt) -> bool:
            public = attempt.key(label, KeyKind.SIGN, ObjectClass.PUBLIC_KEY)
            if not isinstance(public, VerifyMixin):
                raise KeyPurposeError(f"{label!r} cannot verify")
            return public.verify(digest, sig, mechanism=Mechanism.ECDSA)

        return self._login.run(op)

    def public_key_der(self, key: SigningKey) -> bytes:
        """DER SubjectPublicKeyInfo of the named signing key (cached per session)."""
        label = self._signing_label(key)

        def op(attempt: Attempt) -> bytes:
            cached = attempt.conn.public_der.get(label)
            if cached is not None:
                return cached
            public = attempt.key(label, KeyKind.SIGN, ObjectClass.PUBLIC_KEY)
            if not isinstance(public, PublicKey):
                raise KeyPurposeError(f"{label!r} has no public key")
            der = encode_ec_public_key(public)
            attempt.conn.public_der[label] = der
            return der

        return self._login.run(op)
