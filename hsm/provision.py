"""Service-key provisioning and the HSM self-test (used by the CLI and the key ceremony).

Guarantees:

- `provision_service_keys` only ever adds keys: an existing key is never overwritten,
  regenerated or re-templated, and running it again is a no-op. A half-present signing key
  pair or a key with the wrong template makes it raise instead of "repairing" anything.
- `selftest` uses throw-away data only (random key bytes, fixed messages); its detail strings
  carry no key material, plaintext or PIN. It never creates or destroys keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from crypto.keys import (
    HsmError,
    KeyIntegrityError,
    KeyProvider,
    KeyPurposeError,
    MacKey,
    SigningKey,
    WrappingKey,
)
from hsm.keyspec import SERVICE_KEY_LABELS

SelftestResult = tuple[str, bool, str]


@runtime_checkable
class ProvisioningKeyProvider(KeyProvider, Protocol):
    """A key provider that can also create the service keys (`hsm.Pkcs11KeyProvider`)."""

    def ensure_key(self, label: str) -> bool:
        """Create the key (pair) `label` if absent; True if created now. Never replaces."""
        ...


def missing_service_keys(provider: KeyProvider) -> list[str]:
    """Labels of the service keys the token does not hold (in provisioning order).

    A signing key counts as present if either half of its pair is there; a half pair makes
    `provision_service_keys` raise rather than regenerate.
    """
    return [label for label in SERVICE_KEY_LABELS if not provider.has_key(label)]


def provision_service_keys(provider: ProvisioningKeyProvider) -> list[str]:
    """Create the missing service keys; the labels created now (empty if none were missing)."""
    return [label for label in SERVICE_KEY_LABELS if provider.ensure_key(label)]


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _check_wrap(provider: KeyProvider) -> str:
    label = WrappingKey.MASTER.value
    secret, aad = os.urandom(32), b"selftest|wrap"
    wrapped = provider.wrap(label, secret, aad)
    if len(wrapped) != 12 + 32 + 16:
        raise AssertionError("wrapped length is not nonce + key + tag")
    if provider.unwrap(label, wrapped, aad) != secret:
        raise AssertionError("unwrap did not return the wrapped key")
    if provider.wrap(label, secret, aad) == wrapped:
        raise AssertionError("two wraps of the same key are identical (nonce reuse)")
    return "round trip ok, nonces fresh"


def _check_tamper(provider: KeyProvider) -> str:
    label = WrappingKey.MASTER.value
    wrapped = provider.wrap(label, os.urandom(32), b"selftest|tamper")
    for what, blob, aad in (
        ("flipped ciphertext bit", _flip(wrapped, 20), b"selftest|tamper"),
        ("flipped tag bit", _flip(wrapped, len(wrapped) - 1), b"selftest|tamper"),
        ("flipped nonce bit", _flip(wrapped, 0), b"selftest|tamper"),
        ("other AAD", wrapped, b"selftest|other"),
    ):
        try:
            provider.unwrap(label, blob, aad)
        except KeyIntegrityError:
            continue
        raise AssertionError(f"{what} was accepted")
    return "altered ciphertext, tag, nonce and AAD rejected"


def _check_hmac(provider: KeyProvider) -> str:
    first = provider.hmac_sha256(MacKey.BLIND_INDEX, b"selftest|hmac")
    if len(first) != 32 or provider.hmac_sha256(MacKey.BLIND_INDEX, b"selftest|hmac") != first:
        raise AssertionError("HMAC is not a deterministic 32-byte value")
    if provider.hmac_sha256(MacKey.BLIND_INDEX, b"selftest|hmac2") == first:
        raise AssertionError("different messages gave the same HMAC")
    return "deterministic, 32 bytes"


def _check_purposes(provider: KeyProvider) -> str:
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("MAC key wrapping", lambda: provider.wrap(MacKey.BLIND_INDEX.value, bytes(32), b"")),
        ("signing key wrapping", lambda: provider.wrap(SigningKey.BUNDLE.value, bytes(32), b"")),
        ("wrapping key MACing", lambda: provider.hmac_sha256(WrappingKey.MASTER, b"")),  # type: ignore[arg-type]  # deliberate misuse
        ("MAC key signing", lambda: provider.sign(MacKey.BLIND_INDEX, b"")),  # type: ignore[arg-type]  # deliberate misuse
    ]
    for what, attempt in attempts:
        try:
            attempt()
        except KeyPurposeError:
            continue
        raise AssertionError(f"{what} was allowed")
    return "keys refuse other purposes"


def _check_signing(provider: KeyProvider, key: SigningKey) -> str:
    message = b"selftest|sign|" + key.value.encode()
    signature = provider.sign(key, message)
    if len(signature) != 64 or not provider.verify(key, message, signature):
        raise AssertionError("signature does not verify")
    if provider.verify(key, message, _flip(signature, 63)):
        raise AssertionError("altered signature verified")
    if provider.verify(key, message + b"!", signature):
        raise AssertionError("signature verified for another message")
    public = load_der_public_key(provider.public_key_der(key))
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise AssertionError("public key is not P-256")
    der_signature = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public.verify(der_signature, message, ec.ECDSA(hashes.SHA256()))
    return "sign/verify ok, bad signature rejected, public key loads and agrees"


def selftest(provider: KeyProvider) -> list[SelftestResult]:
    """Round trip every key purpose: (check name, passed, detail) per check, never raising for
    an HSM or verification failure. Works on any `KeyProvider`."""
    checks: list[tuple[str, Callable[[], str]]] = [
        (f"wrap/unwrap {WrappingKey.MASTER.value}", lambda: _check_wrap(provider)),
        (f"tamper detection {WrappingKey.MASTER.value}", lambda: _check_tamper(provider)),
        (f"hmac {MacKey.BLIND_INDEX.value}", lambda: _check_hmac(provider)),
        ("purpose separation", lambda: _check_purposes(provider)),
    ]
    for key in SigningKey:
        checks.append((f"sign/verify {key.value}", lambda key=key: _check_signing(provider, key)))  # type: ignore[misc]
    results: list[SelftestResult] = []
    for name, check in checks:
        try:
            results.append((name, True, check()))
        except (HsmError, AssertionError, InvalidSignature, ValueError) as exc:
            results.append((name, False, f"{type(exc).__name__}: {exc}"))
    return results
