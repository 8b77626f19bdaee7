"""An in-memory KeyProvider for unit tests above hsm/ (the HSM itself is tested on SoftHSM2)."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.keys import (
    HsmUnavailable,
    KeyIntegrityError,
    KeyNotFound,
    KeyPurposeError,
    MacKey,
    SigningKey,
    WrappingKey,
    is_wrapping_label,
)


class InMemoryKeyProvider:
    """Same contract as the PKCS#11 provider; `down = True` simulates a dead HSM."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self._aes: dict[str, bytes] = {WrappingKey.MASTER.value: os.urandom(32)}
        self._mac = {MacKey.BLIND_INDEX.value: os.urandom(32)}
        self._ec = {k.value: ec.generate_private_key(ec.SECP256R1()) for k in SigningKey}

    def _enter(self) -> None:
        if self.down:
            raise HsmUnavailable("security module unavailable (simulated)")
        self.calls += 1

    def wrap(self, wrapping_label: str, key_bytes: bytes, aad: bytes) -> bytes:
        self._enter()
        if not is_wrapping_label(wrapping_label):
            raise KeyPurposeError(f"{wrapping_label} is not a wrapping key")
        key = self._aes.get(wrapping_label)
        if key is None:
            raise KeyNotFound(wrapping_label)
        nonce = os.urandom(12)
        return nonce + AESGCM(key).encrypt(nonce, key_bytes, aad)

    def unwrap(self, wrapping_label: str, wrapped: bytes, aad: bytes) -> bytes:
        self._enter()
        if not is_wrapping_label(wrapping_label):
            raise KeyPurposeError(f"{wrapping_label} is not a wrapping key")
        key = self._aes.get(wrapping_label)
        if key is None:
            raise KeyNotFound(wrapping_label)
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise KeyIntegrityError("wrapped key failed authentication") from None

    def hmac_sha256(self, key: MacKey, message: bytes) -> bytes:
        self._enter()
        if key.value not in self._mac:
            raise KeyPurposeError(f"{key} is not a MAC key")
        return hmac.new(self._mac[key.value], message, hashlib.sha256).digest()

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        self._enter()
        der = self._ec[key.value].sign(message, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, key: SigningKey, message: bytes, signature: bytes) -> bool:
        self._enter()
        if len(signature) != 64:
            return False
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._ec[key.value].public_key().verify(der, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def public_key_der(self, key: SigningKey) -> bytes:
        self._enter()
        return (
            self._ec[key.value]
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def ensure_epoch_key(self, label: str) -> None:
        self._enter()
        if not is_wrapping_label(label):
            raise KeyPurposeError(label)
        self._aes.setdefault(label, os.urandom(32))

    def destroy_epoch_key(self, label: str) -> bool:
        self._enter()
        if label == WrappingKey.MASTER.value:
            raise KeyPurposeError("the master key is not an epoch key")
        return self._aes.pop(label, None) is not None

    def has_key(self, label: str) -> bool:
        self._enter()
        return label in self._aes or label in self._mac or label in self._ec
