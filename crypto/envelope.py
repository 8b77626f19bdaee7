"""The versioned ciphertext format of a sealed field, and AES-256-GCM below it.

Envelope v1 (all integers big-endian):

    offset  size  meaning
    0       1     format version (0x01)
    1       4     data key id: which wrapped data key wraps this value's DEK
    5       2     DEK generation: bumped only when the payload is re-encrypted under a fresh DEK
    7       60    the DEK wrapped under the data key: nonce(12) || AES-GCM(key 32) || tag(16)
    67      12    payload nonce
    79      n+16  payload ciphertext || tag

Two AADs bind an envelope to its place (see `crypto.fields.FieldContext`):
- the payload is sealed under the DEK with AAD = table | column | row id | DEK generation;
- the DEK is wrapped under the data key with AAD = the same place | data key id.
So a ciphertext copied to another row or column fails to open, and re-wrapping the DEK under a
new data key (rotation) rewrites 64 bytes of header and leaves the payload ciphertext untouched.

Guarantee: `open_*` either returns the exact plaintext that was sealed for that place or raises
`EnvelopeError`; it never returns partial plaintext, and error messages carry no key or
plaintext bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_V1 = 0x01
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_DEK_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
_HEADER = struct.Struct(">BIH")
HEADER_BYTES = _HEADER.size + WRAPPED_DEK_BYTES + NONCE_BYTES
MAX_DEK_GENERATION = 0xFFFF
MAX_DATA_KEY_ID = 0xFFFFFFFF


class EnvelopeError(Exception):
    """A sealed value is malformed, tampered with, or opened in the wrong place or key."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed sealed value. Holds ciphertext only; never plaintext or an unwrapped key."""

    data_key_id: int
    dek_generation: int
    wrapped_dek: bytes
    nonce: bytes
    ciphertext: bytes

    def __post_init__(self) -> None:
        if not 0 < self.data_key_id <= MAX_DATA_KEY_ID:
            raise EnvelopeError("data key id out of range")
        if not 0 < self.dek_generation <= MAX_DEK_GENERATION:
            raise EnvelopeError("DEK generation out of range")
        if len(self.wrapped_dek) != WRAPPED_DEK_BYTES:
            raise EnvelopeError("wrapped DEK has the wrong length")
        if len(self.nonce) != NONCE_BYTES:
            raise EnvelopeError("nonce has the wrong length")
        if len(self.ciphertext) < TAG_BYTES:
            raise EnvelopeError("ciphertext shorter than its tag")

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                _HEADER.pack(FORMAT_V1, self.data_key_id, self.dek_generation),
                self.wrapped_dek,
                self.nonce,
                self.ciphertext,
            )
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        if len(raw) < HEADER_BYTES + TAG_BYTES:
            raise EnvelopeError("sealed value is truncated")
        version, data_key_id, generation = _HEADER.unpack_from(raw, 0)
        if version != FORMAT_V1:
            raise EnvelopeError(f"unknown sealed-value format version {version}")
        offset = _HEADER.size
        wrapped = raw[offset : offset + WRAPPED_DEK_BYTES]
        offset += WRAPPED_DEK_BYTES
        nonce = raw[offset : offset + NONCE_BYTES]
        offset += NONCE_BYTES
        return cls(data_key_id, generation, wrapped, nonce, raw[offset:])


def gcm_seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """AES-256-GCM under a fresh random 96-bit nonce; returns (nonce, ciphertext||tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def gcm_open(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Inverse of `gcm_seal`; any mismatch raises `EnvelopeError` with no detail leaked."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise EnvelopeError("sealed value failed authentication") from None


#: A data key with its AES key schedule computed once (`prepare`): every record's DEK is
#: wrapped under one of a few data keys, so they are prepared once per process, not per value.
PreparedKey = AESGCM


def prepare(data_key: bytes) -> PreparedKey:
    if len(data_key) != KEY_BYTES:
        raise EnvelopeError("a data key is 32 bytes")
    return AESGCM(data_key)


def wrap_dek(data_key: PreparedKey, dek: bytes, aad: bytes) -> bytes:
    """Wrap a DEK under a data key: nonce || ciphertext || tag, exactly WRAPPED_DEK_BYTES."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + data_key.encrypt(nonce, dek, aad)


def unwrap_dek(data_key: PreparedKey, wrapped: bytes, aad: bytes) -> bytes:
    """Inverse of `wrap_dek`; any mismatch raises `EnvelopeError` with no detail leaked."""
    try:
        return data_key.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag:
        raise EnvelopeError("sealed value failed authentication") from None


def new_key() -> bytes:
    """A fresh random 256-bit key from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)
