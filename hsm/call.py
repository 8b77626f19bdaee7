"""One attempt of one provider operation: key lookup with purpose checks, the login witness,
and the audit view of a key. Everything here runs inside `HSM_LOCK`.

Guarantees:

- A key is handed out only after `hsm.keyspec.admit` accepted it, and at most one object may
  carry a label (two keys with one label are refused, never guessed between).
- A miss is reported only from a session whose login was made in this call or is proven by a
  key that needs the login (`Call.confirm_absent`); otherwise `SessionSuspect` asks the caller to
  log in again first.
- The PIN holder (`Pin`) never shows or pickles its content; nothing here logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

from pkcs11 import Attribute, Mechanism, ObjectClass
from pkcs11.exceptions import (
    AttributeSensitive,
    AttributeTypeInvalid,
    DataInvalid,
    DataLenRange,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    FunctionFailed,
    GeneralError,
    PKCS11Error,
)
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, Key, Object, Session

from crypto.keys import HsmError, HsmUnavailable, KeyNotFound
from hsm.keyspec import KeyKind, admit
from hsm.session import TokenConnection, is_lost_session

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


class SessionSuspect(Exception):
    """A lookup found nothing and the session's login could not be confirmed."""


def as_bytes(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise HsmError("PKCS#11 module returned a stream where bytes were expected")
    return value


class Call:
    """One attempt of one provider operation on one session (lives inside `HSM_LOCK`)."""

    def __init__(self, conn: TokenConnection, session: Session, fresh: bool) -> None:
        self.conn = conn
        self.session = session
        #: The login was made during this call: its view of the token is trustworthy.
        self.fresh = fresh

    def objects(self, label: str, object_class: ObjectClass | None = None) -> list[Key]:
        """Key objects labelled `label` (certificates and data objects are not keys)."""
        attrs: dict[Attribute, object] = {Attribute.LABEL: label}
        if object_class is not None:
            attrs[Attribute.CLASS] = object_class
        # python-pkcs11 0.10.1 leaves a search whose C_FindObjectsInit failed "active": its
        # __del__ later calls C_FindObjectsFinal, which fails again and is reported as an
        # unraisable exception. A session that is gone is therefore detected first, with a call
        # that fails cleanly (C_GenerateRandom checks the session handle).
        self.session.generate_random(8)
        found = list(self.session.get_objects(attrs))  # exhausts the search: C_FindObjectsFinal
        return [obj for obj in found if isinstance(obj, Key)]

    def confirm_absent(self) -> None:
        """Raise `SessionSuspect` unless this session's login is known to hold."""
        if self.fresh:
            return
        # a secret or private key (admitted only with CKA_PRIVATE) is invisible when logged out
        witness: Object | None = next(
            (k for k in self.conn.keys.values() if k.object_class != ObjectClass.PUBLIC_KEY),
            self.conn.witness,
        )
        if witness is None:
            raise SessionSuspect("no object to prove the login")
        try:
            witness[Attribute.CLASS]
        except PKCS11Error as exc:
            if is_lost_session(exc):
                raise SessionSuspect(type(exc).__name__) from None
            raise

    def key(self, label: str, kind: KeyKind, object_class: ObjectClass) -> Key:
        cached = self.conn.keys.get((label, object_class))
        if cached is not None:
            return cached
        found = self.objects(label, object_class)
        if not found:
            self.confirm_absent()
            raise KeyNotFound(
                f"token {self.conn.token_label!r} holds no {kind.value} labelled {label!r}"
            )
        if len(found) > 1:
            raise HsmError(
                f"token {self.conn.token_label!r} holds {len(found)} keys labelled {label!r}: "
                "refusing to pick one"
            )
        key = admit(found[0], label, kind, object_class)
        self.conn.keys[(label, object_class)] = key
        return key

    def present(self, label: str, kind: KeyKind) -> bool:
        """True if the key (pair) exists and fits `kind`; False only if confirmed absent."""
        found = self.objects(label)
        if not found:
            self.confirm_absent()
            return False
        classes = sorted(int(obj.object_class or -1) for obj in found)
        expected = (
            [ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY]
            if kind is KeyKind.SIGN
            else [ObjectClass.SECRET_KEY]
        )
        if classes != sorted(int(c) for c in expected):
            raise HsmError(
                f"token {self.conn.token_label!r} holds an unexpected set of objects labelled "
                f"{label!r} (object classes {classes}; expected one {kind.value}): "
                "refusing to use or replace it"
            )
        for object_class in expected:
            self.key(label, kind, object_class)  # admits (checks the template of) each half
        return True

    def evict(self, label: str) -> None:
        for cache_key in [k for k in self.conn.keys if k[0] == label]:
            del self.conn.keys[cache_key]
        self.conn.public_der.pop(label, None)

    def gcm_key_works(self, key: Key) -> bool:
        """Whether `key` still encrypts and decrypts; tells a bad ciphertext from a bad module."""
        if not (isinstance(key, EncryptMixin) and isinstance(key, DecryptMixin)):
            return False
        params = GCMParams(os.urandom(NONCE_BYTES), b"probe", TAG_BYTES * 8)
        try:
            sealed = as_bytes(
                key.encrypt(bytes(16), mechanism=Mechanism.AES_GCM, mechanism_param=params)
            )
            opened = key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params)
        except PKCS11Error:
            return False
        return opened == bytes(16)


_AUDIT_FLAGS = (
    Attribute.TOKEN,
    Attribute.PRIVATE,
    Attribute.SENSITIVE,
    Attribute.ALWAYS_SENSITIVE,
    Attribute.EXTRACTABLE,
    Attribute.NEVER_EXTRACTABLE,
    Attribute.MODIFIABLE,
    Attribute.COPYABLE,
    Attribute.LOCAL,
    Attribute.ENCRYPT,
    Attribute.DECRYPT,
    Attribute.SIGN,
    Attribute.VERIFY,
    Attribute.WRAP,
    Attribute.UNWRAP,
    Attribute.DERIVE,
)


def describe(key: Key) -> dict[str, object]:
    attrs = key.get_attributes(list(_AUDIT_FLAGS))
    out: dict[str, object] = {
        "class": key.object_class.name if key.object_class is not None else "?",
        "key_type": key.key_type.name,
    }
    # python-pkcs11 keys the result by the raw attribute number, not the enum
    out.update({Attribute(attr).name.lower(): value for attr, value in attrs.items()})
    if key.object_class in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY):
        try:
            key[Attribute.VALUE]  # read only to prove the token refuses; the result is dropped
        except (AttributeSensitive, AttributeTypeInvalid):
            out["value_readable"] = False
        else:
            out["value_readable"] = True
    return out
