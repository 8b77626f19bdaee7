"""Passwords: argon2id hashes, re-hashed when the parameters change.

Guarantees: a password is never stored, logged or returned, only its argon2id hash; checking
an unknown account costs the same as checking a known one (`verify` hashes against a fixed
dummy), so response time does not reveal which usernames exist. A hash made under other
parameters still verifies, and `needs_rehash` says it should be replaced.

The service hashes with `STANDARD` (RFC 9106's second recommended option). `FAST` exists for
the test suite alone: the settings refuse it outside test mode (`Settings.password_hashing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id under one parameter set."""

    hasher: PasswordHasher
    _dummy: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_dummy", self.hasher.hash("creditgate-dummy-never-matches"))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True iff `password` matches; an absent or malformed hash costs a full dummy check."""
        if stored_hash is None:
            self._burn(password)
            return False
        try:
            return self.hasher.verify(stored_hash, password)
        except InvalidHashError:
            self._burn(password)  # a malformed hash must cost what a real check costs
            return False
        except (VerifyMismatchError, VerificationError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if `stored_hash` was made with parameters other than these."""
        return self.hasher.check_needs_rehash(stored_hash)

    def _burn(self, password: str) -> None:
        try:
            self.hasher.verify(self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return


#: RFC 9106 second recommended option (memory-constrained): t=3, m=64 MiB, p=4.
STANDARD = PasswordHashing(
    PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, type=Type.ID)
)
#: The smallest argon2id parameters: for the test suite only (refused outside test mode).
FAST = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
HASHINGS = {"standard": STANDARD, "fast": FAST}
