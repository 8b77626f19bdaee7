"""Blind indexes: find a subject by ID number without storing it in a searchable column.

`index = HMAC-SHA256(K_bidx, "cg1-bidx" | kind | normalised value)` with K_bidx inside the HSM,
so an attacker holding the database cannot test guesses offline. Callers must pass the value
already validated and normalised (e.g. `policies.identifiers.parse_citizen_id(...).value`), so
that `11010519491231002x` and `11010519491231002X` index alike. The value is never logged.
"""

from __future__ import annotations

from enum import StrEnum

from crypto.keys import KeyProvider, MacKey

BLIND_INDEX_BYTES = 32


class BlindIndexKind(StrEnum):
    CITIZEN_ID = "citizen_id"
    CREDIT_CODE = "credit_code"
    USERNAME = "username"
    PERSON_NAME = "person_name"  # a normalised personal name, for the public lists only


def blind_index(provider: KeyProvider, kind: BlindIndexKind, normalised: str) -> bytes:
    """The 32-byte blind index of `normalised` for `kind` (one HSM call)."""
    message = b"cg1-bidx\x00" + kind.value.encode("ascii") + b"\x00" + normalised.encode("utf-8")
    return provider.hmac_sha256(MacKey.BLIND_INDEX, message)
