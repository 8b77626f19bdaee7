"""The key-provider seam: everything above `hsm/` knows keys only through this protocol.

Guarantees a provider must keep:
- key material for the purposes below never leaves the provider; callers get wrapped bytes,
  MACs, signatures and public keys, never a private or secret key;
- a key is used only for its purpose: wrapping keys wrap, the blind-index key MACs, signing keys
  sign (asking a signing key to wrap is a `KeyPurposeError`, not a silent success);
- when the provider cannot do its part (module gone, token missing, login lost and not
  recoverable) it raises `HsmUnavailable`; it never returns partial or default bytes;
- no PIN, key or plaintext handed to `wrap` appears in an exception message.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Protocol, runtime_checkable


class WrappingKey(StrEnum):
    """Named key-encryption keys held in the HSM (AES-256, non-extractable)."""

    MASTER = "cg-master-wrap"


class MacKey(StrEnum):
    """Named HMAC-SHA256 keys held in the HSM (generic secret, non-extractable)."""

    BLIND_INDEX = "cg-blind-index"


class SigningKey(StrEnum):
    """Named ECDSA P-256 key pairs held in the HSM (private half non-extractable)."""

    LOG_CHECKPOINT = "cg-log-checkpoint"
    BUNDLE = "cg-bundle-sign"
    CARD_CA = "cg-card-ca"
    REPORT_CA = "cg-report-ca"  # the root that certifies the report-signing key
    REPORT_SIGN = "cg-report-sign"  # signs issued PDF credit reports (PAdES)


#: Expiry-epoch wrapping keys are created on demand, one per retention period, so that destroying
#: one in the HSM crypto-shreds every record whose retention ends in that period, backups included.
EPOCH_KEY_PATTERN = re.compile(r"^cg-epoch-(\d{4})-(0[1-9]|1[0-2])$")


def epoch_key_label(year: int, month: int) -> str:
    """The HSM label of the wrapping key for records whose retention ends in `year`-`month`."""
    label = f"cg-epoch-{year:04d}-{month:02d}"
    if not EPOCH_KEY_PATTERN.match(label):
        raise ValueError("epoch outside 0001-01..9999-12")
    return label


def is_wrapping_label(label: str) -> bool:
    """True for the master wrapping key and for expiry-epoch wrapping keys."""
    return label == WrappingKey.MASTER.value or bool(EPOCH_KEY_PATTERN.match(label))


class HsmError(Exception):
    """Base class for key-provider failures. Messages never carry key material or PINs."""


class HsmUnavailable(HsmError):
    """The security module cannot do its part right now: callers fail closed (HTTP 503)."""


class KeyNotFound(HsmError):
    """The token is reachable and logged in, but holds no key with that label."""


class KeyPurposeError(HsmError):
    """A key was asked to do something outside its purpose."""


class KeyIntegrityError(HsmError):
    """A wrapped key or signature did not authenticate (tampered, wrong AAD, wrong key)."""


@runtime_checkable
class KeyProvider(Protocol):
    """Purpose-separated operations on keys that stay inside the security module."""

    def wrap(self, wrapping_label: str, key_bytes: bytes, aad: bytes) -> bytes:
        """AES-256-GCM-encrypt `key_bytes` under the named wrapping key, bound to `aad`.

        Returns nonce (12 bytes) || ciphertext || tag (16 bytes).
        `wrapping_label` is `WrappingKey.MASTER` or an epoch label (`epoch_key_label`).
        """
        ...

    def unwrap(self, wrapping_label: str, wrapped: bytes, aad: bytes) -> bytes:
        """Inverse of `wrap`. A wrong key, AAD or a flipped bit raises `KeyIntegrityError`."""
        ...

    def hmac_sha256(self, key: MacKey, message: bytes) -> bytes:
        """HMAC-SHA256 of `message` under the named MAC key (32 bytes)."""
        ...

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256(message), hashed on the host; raw r||s (64 bytes)."""
        ...

    def verify(self, key: SigningKey, message: bytes, signature: bytes) -> bool:
        """True iff `signature` (raw r||s) is valid for `message` under the named key."""
        ...

    def public_key_der(self, key: SigningKey) -> bytes:
        """The DER SubjectPublicKeyInfo of the named signing key."""
        ...

    def ensure_epoch_key(self, label: str) -> None:
        """Create the expiry-epoch wrapping key `label` if absent (idempotent)."""
        ...

    def destroy_epoch_key(self, label: str) -> bool:
        """Destroy the expiry-epoch wrapping key; True if it existed. Irreversible."""
        ...

    def has_key(self, label: str) -> bool:
        """True if the token holds a key object with this label."""
        ...
