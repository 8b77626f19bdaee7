"""The life cycle of the keys on one token: presence, creation, audit and destruction.

`TokenKeyStore` is the part of `hsm.Pkcs11KeyProvider` that manages keys rather than using them
(`has_key`, `ensure_key`, `ensure_epoch_key`, `destroy_epoch_key`, `key_attributes`).

Guarantees:

- Keys are only ever added by `ensure_key`, never regenerated, overwritten or re-templated: an
  existing key is left alone, a half key pair or a key with the wrong template raises. Checking
  and creating happen under the cross-process lock, so concurrent callers create a key once.
- Only expiry-epoch keys can be destroyed (crypto-shredding); the master, MAC and signing keys
  cannot be destroyed through this class.
- A key is reported absent (``has_key`` False, empty `key_attributes`, `destroy_epoch_key`
  False) only by a session whose login has just been made or proven still valid.
- The audit view never contains key material (`hsm.keyspec.describe`).
"""

from __future__ import annotations

from crypto.keys import HsmError, KeyPurposeError
from hsm.attempt import Attempt
from hsm.keyspec import describe, generate, is_epoch_label, kind_of
from hsm.login import TokenLogin


class TokenKeyStore:
    """Creates, checks, audits and destroys CreditGate keys on the token behind `login`."""

    def __init__(self, login: TokenLogin) -> None:
        self._login = login

    def has_key(self, label: str) -> bool:
        """True if the token holds a key object labelled `label` (confirmed-login answer)."""
        name = str(label)

        def op(attempt: Attempt) -> bool:
            if attempt.objects(name):
                return True
            attempt.confirm_absent()
            return False

        return self._login.run(op)

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

        def op(attempt: Attempt) -> bool:
            nonlocal destroyed
            with self._login.exclusive():
                found = attempt.objects(label)
                attempt.evict(label)
                if not found:
                    attempt.confirm_absent()
                    return destroyed
                for obj in found:
                    obj.destroy()
                destroyed = True
                return True

        return self._login.run(op)

    def key_attributes(self, label: str) -> list[dict[str, object]]:
        """Audit view of each key object labelled `label`: class, type, protection and
        capability flags, and whether the token would reveal its value (it must not). Never
        returns key material; empty if there is no such key."""
        name = str(label)

        def op(attempt: Attempt) -> list[dict[str, object]]:
            found = attempt.objects(name)
            if not found:
                attempt.confirm_absent()
            return [describe(obj) for obj in found]

        return self._login.run(op)

    def ensure_key(self, label: str) -> bool:
        """Create the CreditGate key (pair) `label` if it is absent; True if created now.

        Never regenerates or overwrites: an existing key, a half key pair or a key with the wrong
        template is left alone (the latter two raise `HsmError`/`KeyPurposeError`). The check and
        the creation happen under the cross-process lock, so concurrent callers create it once.
        """
        kind = kind_of(label)
        created = False

        def op(attempt: Attempt) -> bool:
            nonlocal created
            if attempt.present(label, kind):
                return created
            with self._login.exclusive():
                if attempt.present(label, kind):  # another process was faster
                    return created
                generate(attempt.session, label, kind)
                created = True
            attempt.evict(label)
            if not attempt.present(label, kind):
                raise HsmError(f"key {label!r} was generated but cannot be found")
            return True

        return self._login.run(op)
