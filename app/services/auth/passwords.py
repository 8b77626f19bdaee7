"""Passwords: argon2id hashes, re-hashed when the parameters change.

Guarantees: a password is never stored, logged or returned, only its argon2id hash; checking
an unknown account costs the same as checking a known one (`verify_or_dummy` hashes against a
fixed dummy), so response time does not reveal which usernames exist.

Every function takes an optional `hasher` (default `HASHER`, the current parameters): a hash
made under other parameters still verifies, and `needs_rehash` says it should be replaced.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: RFC 9106 second recommended option (memory-constrained): t=3, m=64 MiB, p=4.
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, type=Type.ID)
_DUMMY_HASH = HASHER.hash("creditgate-dummy-password-never-matches")


def hash_password(password: str, *, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


def verify_password(
    stored_hash: str | None, password: str, *, hasher: PasswordHasher = HASHER
) -> bool:
    """True iff `password` matches; an absent or malformed hash costs a full dummy check."""
    if stored_hash is None:
        _burn(password)
        return False
    try:
        return hasher.verify(stored_hash, password)
    except InvalidHashError:
        _burn(password)  # a malformed hash must cost what a real check costs
        return False
    except (VerifyMismatchError, VerificationError):
        return False


def needs_rehash(stored_hash: str, *, hasher: PasswordHasher = HASHER) -> bool:
    """True if `stored_hash` was made with parameters other than `hasher`'s."""
    return hasher.check_needs_rehash(stored_hash)


def _burn(password: str) -> None:
    try:
        HASHER.verify(_DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return
