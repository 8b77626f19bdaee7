"""Round trips, tamper detection and purpose separation on a real SoftHSM2 token."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from crypto.keys import (
    KeyIntegrityError,
    KeyProvider,
    KeyPurposeError,
    MacKey,
    SigningKey,
    WrappingKey,
    epoch_key_label,
)
from hsm import Pkcs11KeyProvider, selftest

pytestmark = pytest.mark.hsm

MASTER = WrappingKey.MASTER.value


def _flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_provider_implements_the_protocol(hsm_provider: Pkcs11KeyProvider) -> None:
    assert isinstance(hsm_provider, KeyProvider)


@pytest.mark.parametrize("size", [0, 1, 16, 32, 64, 1000])
def test_wrap_unwrap_round_trip(hsm_provider: Pkcs11KeyProvider, size: int) -> None:
    secret, aad = os.urandom(size), b"table|column|42|v1"
    wrapped = hsm_provider.wrap(MASTER, secret, aad)
    assert len(wrapped) == 12 + size + 16
    assert hsm_provider.unwrap(MASTER, wrapped, aad) == secret


def test_wrap_uses_a_fresh_nonce_each_time(hsm_provider: Pkcs11KeyProvider) -> None:
    secret = os.urandom(32)
    blobs = {hsm_provider.wrap(MASTER, secret, b"a") for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[:12] for blob in blobs}) == 50


def test_unwrap_rejects_other_aad(hsm_provider: Pkcs11KeyProvider) -> None:
    secret = os.urandom(32)
    wrapped = hsm_provider.wrap(MASTER, secret, b"users|id_number|7|v1")
    with pytest.raises(KeyIntegrityError) as excinfo:
        hsm_provider.unwrap(MASTER, wrapped, b"users|id_number|8|v1")
    assert secret.hex() not in str(excinfo.value)
    assert "users" not in str(excinfo.value)
    with pytest.raises(KeyIntegrityError):
        hsm_provider.unwrap(MASTER, wrapped, b"")


def test_unwrap_rejects_every_flipped_bit(hsm_provider: Pkcs11KeyProvider) -> None:
    wrapped = hsm_provider.wrap(MASTER, os.urandom(32), b"aad")
    for bit in range(len(wrapped) * 8):
        with pytest.raises(KeyIntegrityError):
            hsm_provider.unwrap(MASTER, _flip_bit(wrapped, bit), b"aad")


def test_unwrap_rejects_truncated_and_extended_blobs(hsm_provider: Pkcs11KeyProvider) -> None:
    wrapped = hsm_provider.wrap(MASTER, os.urandom(32), b"aad")
    for blob in (b"", wrapped[:27], wrapped[:-1], wrapped + b"\x00", wrapped[:12] + wrapped[13:]):
        with pytest.raises(KeyIntegrityError):
            hsm_provider.unwrap(MASTER, blob, b"aad")


def test_unwrap_under_another_wrapping_key_fails(hsm_provider: Pkcs11KeyProvider) -> None:
    epoch = epoch_key_label(2091, 3)
    hsm_provider.ensure_epoch_key(epoch)
    try:
        wrapped = hsm_provider.wrap(MASTER, os.urandom(32), b"aad")
        with pytest.raises(KeyIntegrityError):
            hsm_provider.unwrap(epoch, wrapped, b"aad")
        under_epoch = hsm_provider.wrap(epoch, b"k" * 32, b"aad")
        assert hsm_provider.unwrap(epoch, under_epoch, b"aad") == b"k" * 32
        with pytest.raises(KeyIntegrityError):
            hsm_provider.unwrap(MASTER, under_epoch, b"aad")
    finally:
        hsm_provider.destroy_epoch_key(epoch)


def test_hmac_is_deterministic_keyed_and_32_bytes(hsm_provider: Pkcs11KeyProvider) -> None:
    mac = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"110101199003074514")
    assert len(mac) == 32
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"110101199003074514") == mac
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"110101199003074515") != mac
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"") != mac
    # keyed: not a plain hash, not HMAC under an all-zero or empty key
    assert mac != hashlib.sha256(b"110101199003074514").digest()
    assert mac != hmac.new(bytes(32), b"110101199003074514", "sha256").digest()
    assert mac != hmac.new(b"", b"110101199003074514", "sha256").digest()


@pytest.mark.parametrize("key", list(SigningKey))
def test_sign_verify_round_trip(hsm_provider: Pkcs11KeyProvider, key: SigningKey) -> None:
    message = b"checkpoint|1024|" + os.urandom(32).hex().encode()
    signature = hsm_provider.sign(key, message)
    assert len(signature) == 64
    assert hsm_provider.verify(key, message, signature) is True
    # ECDSA is randomised; both signatures verify
    other_signature = hsm_provider.sign(key, message)
    assert other_signature != signature
    assert hsm_provider.verify(key, message, other_signature) is True

    # cryptography agrees, over SHA-256 of the message
    public = load_der_public_key(hsm_provider.public_key_der(key))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public.verify(der, message, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key", list(SigningKey))
def test_verify_returns_false_for_bad_signatures(
    hsm_provider: Pkcs11KeyProvider, key: SigningKey
) -> None:
    message = b"bundle|manifest|17"
    signature = hsm_provider.sign(key, message)
    assert hsm_provider.verify(key, message + b"x", signature) is False
    for bit in (0, 255, 256, 511):
        assert hsm_provider.verify(key, message, _flip_bit(signature, bit)) is False
    for bad in (b"", signature[:63], signature + b"\x00", bytes(64), b"\xff" * 64):
        assert hsm_provider.verify(key, message, bad) is False
    others = [k for k in SigningKey if k is not key]
    for other in others:
        assert hsm_provider.verify(other, message, signature) is False


def test_public_keys_are_p256_spki_and_distinct(hsm_provider: Pkcs11KeyProvider) -> None:
    seen = set()
    for key in SigningKey:
        der = hsm_provider.public_key_der(key)
        assert der == hsm_provider.public_key_der(key)
        public = load_der_public_key(der)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == "secp256r1"
        seen.add(der)
    assert len(seen) == len(SigningKey)


@pytest.mark.parametrize(
    "label", [MacKey.BLIND_INDEX.value, *(k.value for k in SigningKey), "cg-unknown", "", "x"]
)
def test_only_wrapping_labels_wrap(hsm_provider: Pkcs11KeyProvider, label: str) -> None:
    with pytest.raises(KeyPurposeError):
        hsm_provider.wrap(label, bytes(32), b"")
    with pytest.raises(KeyPurposeError):
        hsm_provider.unwrap(label, bytes(60), b"")


def test_mac_and_signing_keys_refuse_other_purposes(hsm_provider: Pkcs11KeyProvider) -> None:
    with pytest.raises(KeyPurposeError):
        hsm_provider.hmac_sha256(WrappingKey.MASTER, b"m")  # type: ignore[arg-type]
    with pytest.raises(KeyPurposeError):
        hsm_provider.hmac_sha256(SigningKey.BUNDLE, b"m")  # type: ignore[arg-type]
    with pytest.raises(KeyPurposeError):
        hsm_provider.sign(MacKey.BLIND_INDEX, b"m")  # type: ignore[arg-type]
    with pytest.raises(KeyPurposeError):
        hsm_provider.sign(WrappingKey.MASTER, b"m")  # type: ignore[arg-type]
    with pytest.raises(KeyPurposeError):
        hsm_provider.verify(MacKey.BLIND_INDEX, b"m", bytes(64))  # type: ignore[arg-type]
    with pytest.raises(KeyPurposeError):
        hsm_provider.public_key_der(MacKey.BLIND_INDEX)  # type: ignore[arg-type]


def test_service_keys_cannot_be_destroyed_or_reused_as_epoch_keys(
    hsm_provider: Pkcs11KeyProvider,
) -> None:
    for label in (MASTER, MacKey.BLIND_INDEX.value, SigningKey.CARD_CA.value, "cg-epoch-2030-13"):
        with pytest.raises(KeyPurposeError):
            hsm_provider.destroy_epoch_key(label)
        with pytest.raises(KeyPurposeError):
            hsm_provider.ensure_epoch_key(label)
    assert hsm_provider.has_key(MASTER)
    assert hsm_provider.unwrap(MASTER, hsm_provider.wrap(MASTER, b"k", b""), b"") == b"k"


def test_keys_are_sensitive_non_extractable_and_single_purpose(
    hsm_provider: Pkcs11KeyProvider,
) -> None:
    expected_caps = {
        MASTER: {"SECRET_KEY": {"encrypt", "decrypt"}},
        MacKey.BLIND_INDEX.value: {"SECRET_KEY": {"sign", "verify"}},
        **{k.value: {"PRIVATE_KEY": {"sign"}, "PUBLIC_KEY": {"verify"}} for k in SigningKey},
    }
    capabilities = {"encrypt", "decrypt", "sign", "verify", "wrap", "unwrap", "derive"}
    for label, per_class in expected_caps.items():
        described = hsm_provider.key_attributes(label)
        assert sorted(str(d["class"]) for d in described) == sorted(per_class)
        for entry in described:
            allowed = per_class[str(entry["class"])]
            granted = {c for c in capabilities if entry.get(c) is True}
            assert granted == allowed, (label, entry)
            assert entry["token"] is True
            assert entry["private"] is True
            assert entry["modifiable"] is False
            if entry["class"] != "PUBLIC_KEY":
                assert entry["sensitive"] is True
                assert entry["always_sensitive"] is True
                assert entry["extractable"] is False
                assert entry["never_extractable"] is True
                assert entry["value_readable"] is False
    assert hsm_provider.key_attributes("cg-no-such-key") == []


def test_selftest_passes(hsm_provider: Pkcs11KeyProvider) -> None:
    results = selftest(hsm_provider)
    assert len(results) >= 7
    assert all(ok for _, ok, _ in results), results
