"""Sealing a record payload: place binding, tamper detection, rotation and re-wrap."""

from __future__ import annotations

import json

import pytest

from crypto.envelope import Envelope, EnvelopeError
from crypto.fields import FieldCipher, FieldContext, canonical_json
from crypto.keyring import (
    DataKeyRing,
    DataKeyUnavailable,
    WrappedDataKey,
    create_data_key,
)
from crypto.keys import WrappingKey
from tests.fakes import InMemoryKeyProvider

PAYLOAD = {"lender": "Bank of Chongqing", "balance_fen": 1234500, "grid": "NNNN1NNN"}
HERE = FieldContext("records", "payload", "0190a3b4-0000-7000-8000-000000000001")


class Store:
    """A dict standing in for the data_keys table."""

    def __init__(self) -> None:
        self.rows: dict[int, WrappedDataKey] = {}

    def add(self, wrapped: WrappedDataKey) -> int:
        self.rows[wrapped.key_id] = wrapped
        return wrapped.key_id


@pytest.fixture
def provider() -> InMemoryKeyProvider:
    return InMemoryKeyProvider()


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def cipher(provider: InMemoryKeyProvider, store: Store) -> FieldCipher:
    return FieldCipher(DataKeyRing(provider, store.rows.get))


def test_a_sealed_payload_opens_to_exactly_what_was_sealed(cipher, provider, store) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    envelope = cipher.seal_json(HERE, PAYLOAD, key_id)
    assert b"Bank" not in envelope.to_bytes()
    assert cipher.open_json(HERE, Envelope.from_bytes(envelope.to_bytes())) == PAYLOAD


def test_two_seals_of_the_same_payload_differ(cipher, provider, store) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    first = cipher.seal_json(HERE, PAYLOAD, key_id).to_bytes()
    assert first != cipher.seal_json(HERE, PAYLOAD, key_id).to_bytes()


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldContext("records", "payload", "0190a3b4-0000-7000-8000-000000000002"),
        FieldContext("records", "statement", HERE.row_id),
        FieldContext("subjects", "payload", HERE.row_id),
    ],
    ids=["other-row", "other-column", "other-table"],
)
def test_a_ciphertext_copied_elsewhere_fails_to_open(cipher, provider, store, elsewhere) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    envelope = cipher.seal_json(HERE, PAYLOAD, key_id)
    with pytest.raises(EnvelopeError, match="authentication"):
        cipher.open(elsewhere, envelope)


def test_every_single_bit_flip_fails_to_open(cipher, provider, store) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    raw = cipher.seal(HERE, b"x" * 8, key_id).to_bytes()
    for position in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[position] ^= 1 << bit
            with pytest.raises((EnvelopeError, DataKeyUnavailable)):
                cipher.open(HERE, Envelope.from_bytes(bytes(flipped)))


def test_component_boundaries_cannot_be_shifted() -> None:
    # "ab"|"c" and "a"|"bc" must not produce the same AAD.
    assert FieldContext("ab", "c", "1").payload_aad(1) != FieldContext("a", "bc", "1").payload_aad(
        1
    )


def test_old_ciphertexts_still_open_after_a_rotation(cipher, provider, store) -> None:  # type: ignore[no-untyped-def]
    old = store.add(create_data_key(provider, WrappingKey.MASTER))
    sealed_before = cipher.seal_json(HERE, PAYLOAD, old)
    new = store.add(create_data_key(provider, WrappingKey.MASTER))
    sealed_after = cipher.seal_json(HERE, PAYLOAD, new)
    assert sealed_before.data_key_id == old
    assert sealed_after.data_key_id == new
    assert cipher.open_json(HERE, sealed_before) == PAYLOAD
    assert cipher.open_json(HERE, sealed_after) == PAYLOAD


def test_rewrap_moves_the_dek_and_leaves_the_payload_ciphertext_untouched(  # type: ignore[no-untyped-def]
    cipher, provider, store
) -> None:
    old = store.add(create_data_key(provider, WrappingKey.MASTER))
    new = store.add(create_data_key(provider, WrappingKey.MASTER))
    before = cipher.seal_json(HERE, PAYLOAD, old)
    after = cipher.rewrap(HERE, before, new)
    assert after.ciphertext == before.ciphertext
    assert after.nonce == before.nonce
    assert after.wrapped_dek != before.wrapped_dek
    assert after.data_key_id == new
    # The old data key can now be destroyed without losing the value.
    del store.rows[old]
    cipher.keyring.forget(old)
    assert cipher.open_json(HERE, after) == PAYLOAD
    with pytest.raises(DataKeyUnavailable):
        cipher.open(HERE, before)


def test_reseal_bumps_the_dek_generation_and_changes_the_ciphertext(
    cipher, provider, store
) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    before = cipher.seal_json(HERE, PAYLOAD, key_id)
    after = cipher.reseal(HERE, before, key_id)
    assert after.dek_generation == 2
    assert after.ciphertext != before.ciphertext
    assert cipher.open_json(HERE, after) == PAYLOAD


def test_destroying_an_epoch_key_shreds_every_value_under_it(provider, store) -> None:  # type: ignore[no-untyped-def]
    provider.ensure_epoch_key("cg-epoch-2031-06")
    key_id = store.add(create_data_key(provider, "cg-epoch-2031-06"))
    cipher = FieldCipher(DataKeyRing(provider, store.rows.get))
    envelope = cipher.seal_json(HERE, PAYLOAD, key_id)
    assert provider.destroy_epoch_key("cg-epoch-2031-06") is True
    # A fresh process (empty cache) holding a backup of the rows can no longer open it.
    fresh = FieldCipher(DataKeyRing(provider, store.rows.get))
    with pytest.raises(Exception, match="cg-epoch-2031-06"):
        fresh.open(HERE, envelope)


def test_the_hsm_is_asked_once_per_data_key_per_process(cipher, provider, store) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    calls = provider.calls
    for _ in range(50):
        cipher.open_json(HERE, cipher.seal_json(HERE, PAYLOAD, key_id))
    assert provider.calls - calls == 1


def test_a_dead_hsm_fails_closed_on_a_cold_key(provider, store) -> None:  # type: ignore[no-untyped-def]
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    provider.down = True
    cipher = FieldCipher(DataKeyRing(provider, store.rows.get))
    with pytest.raises(Exception, match="unavailable"):
        cipher.seal_json(HERE, PAYLOAD, key_id)


def test_canonical_json_is_deterministic_and_refuses_nan() -> None:
    assert canonical_json({"b": 1, "a": "信用"}) == '{"a":"信用","b":1}'.encode()
    assert json.loads(canonical_json({"z": [1, 2]})) == {"z": [1, 2]}
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json({"x": float("nan")})


# A value sealed by format v1 with fixed keys and nonces. It must open, byte for byte, in every
# later release: sealed records outlive the code that wrote them.
KAT_DATA_KEY = bytes(range(32))
KAT_CONTEXT = FieldContext("records", "payload", "01936b2e-1c4f-7a00-8000-00000000beef")
KAT_ENVELOPE = bytes.fromhex(
    "012a2a2a2a0001000102030405060708090a0b6723f438e1c0e43ca568bda09dc45642b3e7b507c44e694b005e"
    "dfbe21543e8d22e98038030afbed69d7747a6e0885680c0d0e0f101112131415161799182f585b486ecb813381"
    "9ad0efd2f59ea61b87e78efa2bd2aacb3e112c61c062ebbac55d6dfaaa94b8402a7f18620e1831bcf84739"
)


class _FixedUnwrap(InMemoryKeyProvider):
    def unwrap(self, wrapping_label: str, wrapped: bytes, aad: bytes) -> bytes:
        return KAT_DATA_KEY


def test_a_v1_envelope_written_with_known_keys_opens_to_its_known_plaintext() -> None:
    stored = WrappedDataKey(0x2A2A2A2A, "cg-master-wrap", b"unused by the fixed provider")
    cipher = FieldCipher(DataKeyRing(_FixedUnwrap(), lambda _key_id: stored))
    envelope = Envelope.from_bytes(KAT_ENVELOPE)
    assert (envelope.data_key_id, envelope.dek_generation) == (0x2A2A2A2A, 1)
    assert cipher.open_json(KAT_CONTEXT, envelope) == {"amount_fen": 120000, "court": "重庆"}


def test_a_cached_data_key_expires_so_destruction_elsewhere_takes_effect(provider, store) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    ring = DataKeyRing(provider, store.rows.get, ttl_seconds=60, clock=lambda: now[0])
    cipher = FieldCipher(ring)
    key_id = store.add(create_data_key(provider, WrappingKey.MASTER))
    envelope = cipher.seal_json(HERE, PAYLOAD, key_id)
    del store.rows[key_id]  # another process destroyed it
    now[0] += 59
    assert cipher.open_json(HERE, envelope) == PAYLOAD  # still cached
    now[0] += 2
    with pytest.raises(DataKeyUnavailable):
        cipher.open_json(HERE, envelope)


def test_creating_a_key_never_overwrites_a_cached_one(provider, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ring = DataKeyRing(provider, store.rows.get)
    first = ring.create(WrappingKey.MASTER)
    ids = iter([first.key_id, first.key_id, 12345])
    monkeypatch.setattr("crypto.keyring.new_data_key_id", lambda: next(ids))
    second = ring.create(WrappingKey.MASTER)
    assert second.key_id == 12345
    store.add(first)
    cipher = FieldCipher(ring)
    assert cipher.open_json(HERE, cipher.seal_json(HERE, PAYLOAD, first.key_id)) == PAYLOAD
