"""Work done by threads, forked children and worker processes in the concurrency tests.

Module-level so that multiprocessing's spawn start method can import it in the child.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from typing import Any

from crypto.keys import MacKey, SigningKey, WrappingKey
from hsm import Pkcs11KeyProvider
from tests.softhsm_fixtures import SoftHsmEnv

MASTER = WrappingKey.MASTER.value
MAC_MESSAGES = [b"subject-%d" % i for i in range(16)]


@dataclass(frozen=True)
class Expected:
    """Values computed by the parent that every other process must reproduce."""

    macs: tuple[bytes, ...]
    wrapped: bytes
    wrapped_plain: bytes
    signature: bytes
    signed: bytes
    public_keys: tuple[bytes, ...]

    @classmethod
    def from_provider(cls, provider: Pkcs11KeyProvider) -> Expected:
        plain = os.urandom(32)
        return cls(
            macs=tuple(provider.hmac_sha256(MacKey.BLIND_INDEX, m) for m in MAC_MESSAGES),
            wrapped=provider.wrap(MASTER, plain, b"expected"),
            wrapped_plain=plain,
            signature=provider.sign(SigningKey.LOG_CHECKPOINT, b"expected"),
            signed=b"expected",
            public_keys=tuple(provider.public_key_der(k) for k in SigningKey),
        )


Sample = tuple[str, bytes, bytes, bytes]


@dataclass
class Tally:
    ops: int = 0
    errors: list[str] = field(default_factory=list)
    #: (kind, data, result, aad): ("wrap", wrapped, plain, aad) or (signing label, msg, sig, b"")
    samples: list[Sample] = field(default_factory=list)


def check_against(provider: Pkcs11KeyProvider, expected: Expected) -> None:
    """Raise AssertionError unless `provider` reproduces the parent's results."""
    for message, mac in zip(MAC_MESSAGES, expected.macs, strict=True):
        assert provider.hmac_sha256(MacKey.BLIND_INDEX, message) == mac, "hmac differs"
    assert provider.unwrap(MASTER, expected.wrapped, b"expected") == expected.wrapped_plain
    assert provider.verify(SigningKey.LOG_CHECKPOINT, expected.signed, expected.signature)
    public_keys = tuple(provider.public_key_der(k) for k in SigningKey)
    assert public_keys == expected.public_keys, "public keys differ"


def mixed_ops(provider: Pkcs11KeyProvider, expected: Expected, count: int, seed: int) -> Tally:
    """`count` operations cycling wrap, unwrap, hmac, sign, verify; every result is checked."""
    tally = Tally()
    signing_keys = list(SigningKey)
    wrapped, plain, signature, message = b"", b"", b"", b""
    for i in range(count):
        step = i % 5
        try:
            if step == 0:
                plain = os.urandom(32)
                wrapped = provider.wrap(MASTER, plain, b"t%d" % seed)
            elif step == 1:
                if provider.unwrap(MASTER, wrapped, b"t%d" % seed) != plain:
                    raise AssertionError("unwrap returned other bytes")
                if i % 250 == 1:
                    tally.samples.append(("wrap", wrapped, plain, b"t%d" % seed))
            elif step == 2:
                index = (i + seed) % len(MAC_MESSAGES)
                mac = provider.hmac_sha256(MacKey.BLIND_INDEX, MAC_MESSAGES[index])
                if mac != expected.macs[index]:
                    raise AssertionError("hmac differs")
            elif step == 3:
                message = b"%d|%d" % (seed, i)
                signature = provider.sign(signing_keys[i % 3], message)
            else:
                key = signing_keys[(i - 1) % 3]
                if not provider.verify(key, message, signature):
                    raise AssertionError("own signature rejected")
                if provider.verify(key, message + b"!", signature):
                    raise AssertionError("signature verified for another message")
                if i % 250 == 4:
                    tally.samples.append((key.value, message, signature, b""))
        except Exception as exc:  # noqa: BLE001 - the tally is the assertion
            tally.errors.append(f"op {i}: {type(exc).__name__}: {exc}")
        tally.ops += 1
    return tally


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker gets its provider: inherited (fork) or built from the environment (spawn)."""

    expected: Expected
    env: SoftHsmEnv | None = None
    provider: Any = None  # Pkcs11KeyProvider, only with fork (never pickled)


def worker(spec: WorkerSpec, barrier: Any, queue: Any, index: int) -> None:
    """Start at the barrier together with the other workers, then log in and work."""
    try:
        provider = spec.provider if spec.provider is not None else None
        own = provider is None
        if provider is None:
            assert spec.env is not None
            provider = spec.env.provider()
        barrier.wait(timeout=60)
        provider.connect()  # every worker's first PKCS#11 use at the same instant
        check_against(provider, spec.expected)
        tally = mixed_ops(provider, spec.expected, 100, seed=index)
        if tally.errors:
            raise AssertionError("; ".join(tally.errors[:5]))
        if own:
            provider.close()
        queue.put((index, "ok"))
    except BaseException:
        queue.put((index, traceback.format_exc()))
        raise


def ensure_epoch_worker(env: SoftHsmEnv, label: str, barrier: Any, queue: Any, index: int) -> None:
    try:
        with env.provider() as provider:
            barrier.wait(timeout=60)
            created = provider.ensure_key(label)
            provider.unwrap(label, provider.wrap(label, b"k", b""), b"")
        queue.put((index, "created" if created else "existed"))
    except BaseException:
        queue.put((index, traceback.format_exc()))
        raise


def check_samples(provider: Pkcs11KeyProvider, samples: list[Sample]) -> None:
    """Every sampled wrap still unwraps and every sampled signature still verifies."""
    for kind, data, result, aad in samples:
        if kind == "wrap":
            assert provider.unwrap(MASTER, data, aad) == result, "sampled unwrap differs"
        else:
            assert provider.verify(SigningKey(kind), data, result), f"{kind} signature rejected"


def disk_check(env: SoftHsmEnv, expected: Expected, samples: list[Sample]) -> str:
    """Run in a fresh (spawned) process: the token as stored on disk has every key intact."""
    from hsm import missing_service_keys

    with env.provider() as provider:
        missing = missing_service_keys(provider)
        if missing:
            return f"missing keys: {missing}"
        check_against(provider, expected)
        check_samples(provider, samples)
    return "ok"
