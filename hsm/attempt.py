"""One attempt of one provider operation on the logged-in session: key lookup with purpose
checks, the presence check used to create keys, and the login witness. Everything here runs
inside `HSM_LOCK`; `hsm.login.TokenLogin` makes a new `Attempt` for every try.

Guarantees:

- A key is handed out only after `hsm.keyspec.admit` accepted it, and at most one object may
  carry a label (two keys with one label are refused, never guessed between).
- A miss is reported only from a session whose login was made in this attempt or is proven by a
  key that needs the login (`Attempt.confirm_absent`); otherwise `SessionSuspect` asks the caller
  to log in again first.
- Nothing here logs.
"""

from __future__ import annotations

from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pkcs11.types import Key, Object, Session

from crypto.keys import HsmError, KeyNotFound
from hsm.keyspec import KeyKind, admit
from hsm.session import TokenConnection, is_lost_session


class SessionSuspect(Exception):
    """A lookup found nothing and the session's login could not be confirmed."""


class Attempt:
    """One attempt of one provider operation on one session (lives inside `HSM_LOCK`)."""

    def __init__(self, conn: TokenConnection, session: Session, fresh: bool) -> None:
        self.conn = conn
        self.session = session
        #: The login was made during this attempt: its view of the token is trustworthy.
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
