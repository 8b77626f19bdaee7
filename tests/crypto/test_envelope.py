"""AES-GCM known answers and the envelope wire format."""

from __future__ import annotations

import pytest

from crypto.envelope import (
    HEADER_BYTES,
    Envelope,
    EnvelopeError,
    gcm_open,
    new_key,
    prepare,
    unwrap_dek,
    wrap_dek,
)

# NIST GCM spec (McGrew & Viega), test case 16: AES-256, 96-bit IV, with AAD.
TC16_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
TC16_IV = bytes.fromhex("cafebabefacedbaddecaf888")
TC16_PT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
TC16_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
TC16_CT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
TC16_TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")


def test_gcm_matches_the_nist_known_answer() -> None:
    assert gcm_open(TC16_KEY, TC16_IV, TC16_CT + TC16_TAG, TC16_AAD) == TC16_PT


def test_gcm_refuses_the_known_answer_with_one_bit_flipped_in_the_aad() -> None:
    bad_aad = bytes([TC16_AAD[0] ^ 1]) + TC16_AAD[1:]
    with pytest.raises(EnvelopeError, match="authentication"):
        gcm_open(TC16_KEY, TC16_IV, TC16_CT + TC16_TAG, bad_aad)


def _envelope() -> Envelope:
    return Envelope(
        data_key_id=0x01020304,
        dek_generation=7,
        wrapped_dek=bytes(range(60)),
        nonce=bytes(range(100, 112)),
        ciphertext=b"\xaa" * 20,
    )


def test_envelope_wire_format_is_stable() -> None:
    raw = _envelope().to_bytes()
    assert raw[:7] == bytes.fromhex("01010203040007")
    assert raw[7:67] == bytes(range(60))
    assert raw[67:79] == bytes(range(100, 112))
    assert raw[79:] == b"\xaa" * 20
    assert len(raw) == HEADER_BYTES + 20
    assert Envelope.from_bytes(raw) == _envelope()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: b"\x02" + raw[1:], "format version 2"),
        (lambda raw: raw[:HEADER_BYTES], "truncated"),
        (lambda raw: raw[:1] + b"\x00\x00\x00\x00" + raw[5:], "data key id"),
        (lambda raw: raw[:5] + b"\x00\x00" + raw[7:], "DEK generation"),
    ],
)
def test_malformed_envelopes_are_refused_with_a_precise_reason(mutate, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EnvelopeError, match=message):
        Envelope.from_bytes(mutate(_envelope().to_bytes()))


def test_a_wrapped_dek_opens_only_with_its_own_aad_and_data_key() -> None:
    data_key, dek = prepare(new_key()), new_key()
    wrapped = wrap_dek(data_key, dek, b"place-a")
    assert unwrap_dek(data_key, wrapped, b"place-a") == dek
    with pytest.raises(EnvelopeError):
        unwrap_dek(data_key, wrapped, b"place-b")
    with pytest.raises(EnvelopeError):
        unwrap_dek(prepare(new_key()), wrapped, b"place-a")


def test_a_data_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="32 bytes"):
        prepare(new_key()[:16])
