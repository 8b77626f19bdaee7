"""Field-level sealing: one AES-256-GCM envelope per sealed value, bound to its place.

A record's whole payload is sealed as one ciphertext (one AEAD per record, not per field), under a
fresh per-value DEK that is wrapped by a data key (see `crypto.envelope` for the format).

Guarantees:
- AAD = table | column | row id | DEK generation (payload) and the same place | data key id (DEK),
  length-prefixed so no two places share an encoding: a ciphertext copied to another row or
  column, or one flipped bit anywhere, fails to open with `EnvelopeError`;
- `rewrap` moves a value to a new data key without touching, or ever exposing outside this
  function, its plaintext: the payload ciphertext is byte-for-byte unchanged;
- plaintext is returned only to the caller; nothing here logs.
"""

from __future__ import annotations

import functools
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from crypto.envelope import (
    MAX_DEK_GENERATION,
    Envelope,
    EnvelopeError,
    gcm_open,
    gcm_seal,
    new_key,
    unwrap_dek,
    wrap_dek,
)
from crypto.keyring import DataKeyRing


def _component(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


@functools.lru_cache(maxsize=256)
def _column_place(table: str, column: str) -> bytes:
    """The (table, column) part of a place: a handful of them, each encoded once."""
    return _component(table) + _component(column)


@dataclass(frozen=True)
class FieldContext:
    """Where a sealed value lives. Sealing and opening must name the same place."""

    table: str
    column: str
    row_id: str
    _place: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # computed once: every open needs it twice (the DEK's AAD and the payload's)
        place = _column_place(self.table, self.column) + _component(self.row_id)
        object.__setattr__(self, "_place", place)

    def payload_aad(self, dek_generation: int) -> bytes:
        return b"cg1-field\x00" + self._place + struct.pack(">H", dek_generation)

    def dek_aad(self, data_key_id: int) -> bytes:
        return b"cg1-dek\x00" + self._place + struct.pack(">I", data_key_id)


class FieldCipher:
    """Seals and opens values for a place, with data keys from a `DataKeyRing`."""

    def __init__(self, keyring: DataKeyRing) -> None:
        self._keyring = keyring

    @property
    def keyring(self) -> DataKeyRing:
        return self._keyring

    def seal(
        self, ctx: FieldContext, plaintext: bytes, data_key_id: int, *, dek_generation: int = 1
    ) -> Envelope:
        if not 0 < dek_generation <= MAX_DEK_GENERATION:
            raise EnvelopeError("DEK generation out of range")
        dek = new_key()
        nonce, ciphertext = gcm_seal(dek, plaintext, ctx.payload_aad(dek_generation))
        data_key = self._keyring.key(data_key_id)
        wrapped = wrap_dek(data_key, dek, ctx.dek_aad(data_key_id))
        return Envelope(data_key_id, dek_generation, wrapped, nonce, ciphertext)

    def open(self, ctx: FieldContext, envelope: Envelope) -> bytes:
        dek = self._dek(ctx, envelope)
        return gcm_open(
            dek, envelope.nonce, envelope.ciphertext, ctx.payload_aad(envelope.dek_generation)
        )

    def rewrap(self, ctx: FieldContext, envelope: Envelope, new_data_key_id: int) -> Envelope:
        """Re-wrap the DEK under another data key; the payload ciphertext stays as it is."""
        dek = self._dek(ctx, envelope)
        new_data_key = self._keyring.key(new_data_key_id)
        wrapped = wrap_dek(new_data_key, dek, ctx.dek_aad(new_data_key_id))
        return Envelope(
            new_data_key_id, envelope.dek_generation, wrapped, envelope.nonce, envelope.ciphertext
        )

    def reseal(self, ctx: FieldContext, envelope: Envelope, new_data_key_id: int) -> Envelope:
        """Re-encrypt under a fresh DEK (next generation), e.g. after a DEK is suspected leaked."""
        plaintext = self.open(ctx, envelope)
        return self.seal(
            ctx, plaintext, new_data_key_id, dek_generation=envelope.dek_generation + 1
        )

    def seal_json(self, ctx: FieldContext, value: Any, data_key_id: int) -> Envelope:
        return self.seal(ctx, canonical_json(value), data_key_id)

    def open_json(self, ctx: FieldContext, envelope: Envelope) -> Any:
        # sealed JSON is always UTF-8 (`canonical_json`): no encoding detection per value
        return json.loads(self.open(ctx, envelope).decode("utf-8"))

    def _dek(self, ctx: FieldContext, envelope: Envelope) -> bytes:
        data_key = self._keyring.key(envelope.data_key_id)
        return unwrap_dek(data_key, envelope.wrapped_dek, ctx.dek_aad(envelope.data_key_id))


def canonical_json(value: Any) -> bytes:
    """Deterministic UTF-8 JSON: sorted keys, no spaces, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
