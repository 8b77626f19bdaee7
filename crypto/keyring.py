"""Data keys: the middle layer of the key hierarchy.

A data key is a random AES-256 key, stored in the database only wrapped by an HSM wrapping key
(the master key, or the expiry-epoch key of the period in which its records' retention ends). It
wraps per-record DEKs in software, so the hot path needs the HSM only once per data key per
process.

Guarantees: unwrapped data keys live only in this process's memory (never logged, never written
anywhere) and for at most `ttl_seconds` (default 5 minutes) after they were unwrapped, so a key
destroyed by another process (rotation, crypto-shredding) stops working in every worker within
that time even if nobody tells it; a data key that cannot be loaded or unwrapped raises
(`DataKeyUnavailable`, or the provider's `HsmUnavailable`) so callers fail closed; `forget`
evicts at once in this process.
"""

from __future__ import annotations

import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from crypto.envelope import KEY_BYTES, MAX_DATA_KEY_ID, PreparedKey, new_key, prepare
from crypto.keys import KeyProvider, is_wrapping_label


class DataKeyUnavailable(Exception):
    """The data key is unknown, destroyed, or its wrapping key is gone (crypto-shredded)."""


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A data key as stored: its id, the HSM key that wraps it, and the wrapped bytes."""

    key_id: int
    wrapping_label: str
    wrapped: bytes


def data_key_aad(key_id: int, wrapping_label: str) -> bytes:
    """AAD binding a wrapped data key to its id and wrapping key (no swapping rows)."""
    label = wrapping_label.encode("ascii")
    return b"cg1-data-key\x00" + struct.pack(">I", key_id) + label


#: Data key ids fit a signed 32-bit SQL INTEGER (PostgreSQL has no unsigned type).
MAX_STORED_DATA_KEY_ID = min(MAX_DATA_KEY_ID, 2**31 - 1)


def new_data_key_id() -> int:
    """A random positive id below 2**31, so a key can be wrapped before its row exists."""
    return secrets.randbelow(MAX_STORED_DATA_KEY_ID) + 1


def create_data_key(provider: KeyProvider, wrapping_label: str) -> WrappedDataKey:
    """Generate a data key and wrap it in the HSM; the plaintext key is dropped here."""
    return _create(provider, wrapping_label)[0]


def _create(provider: KeyProvider, wrapping_label: str) -> tuple[WrappedDataKey, bytes]:
    if not is_wrapping_label(wrapping_label):
        raise ValueError("not a wrapping key label")
    key_id = new_data_key_id()
    raw = new_key()
    wrapped = provider.wrap(wrapping_label, raw, data_key_aad(key_id, wrapping_label))
    return WrappedDataKey(key_id, wrapping_label, wrapped), raw


Loader = Callable[[int], WrappedDataKey | None]


class _Cached(NamedTuple):
    prepared: PreparedKey
    expires: float


DEFAULT_TTL_SECONDS = 300.0


class DataKeyRing:
    """Process-local cache of unwrapped data keys, filled through the HSM on first use."""

    def __init__(
        self,
        provider: KeyProvider,
        loader: Loader,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._loader = loader
        self._ttl = ttl_seconds
        self._clock = clock
        self._keys: dict[int, _Cached] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<DataKeyRing cached={len(self._keys)}>"

    def key(self, key_id: int) -> PreparedKey:
        """The unwrapped data key `key_id`, ready to wrap and unwrap DEKs (its key schedule
        computed once); at most one HSM call per key per process and TTL."""
        now = self._clock()
        cached = self._keys.get(key_id)
        if cached is not None and cached.expires > now:
            return cached.prepared
        with self._lock:
            cached = self._keys.get(key_id)
            if cached is not None and cached.expires > now:
                return cached.prepared
            self._keys.pop(key_id, None)
            stored = self._loader(key_id)
            if stored is None:
                raise DataKeyUnavailable(f"data key {key_id} is unknown or destroyed")
            raw = self._provider.unwrap(
                stored.wrapping_label,
                stored.wrapped,
                data_key_aad(stored.key_id, stored.wrapping_label),
            )
            if len(raw) != KEY_BYTES:
                raise DataKeyUnavailable(f"data key {key_id} unwrapped to the wrong length")
            prepared = prepare(raw)
            self._keys[key_id] = _Cached(prepared, now + self._ttl)
            return prepared

    def create(self, wrapping_label: str) -> WrappedDataKey:
        """A new data key, wrapped in the HSM for storage and cached here for immediate use.

        Caching at creation lets the creating transaction seal under the key before its row
        is committed (other connections cannot load it yet).
        """
        while True:
            wrapped, raw = _create(self._provider, wrapping_label)
            with self._lock:
                if wrapped.key_id in self._keys:
                    continue  # a random id collided with a cached one: never overwrite it
                self._keys[wrapped.key_id] = _Cached(prepare(raw), self._clock() + self._ttl)
            return wrapped

    def forget(self, key_id: int | None = None) -> None:
        """Evict one key (or all) from this process, e.g. after it is destroyed."""
        with self._lock:
            if key_id is None:
                self._keys.clear()
            else:
                self._keys.pop(key_id, None)
