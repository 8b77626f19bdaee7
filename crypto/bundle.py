"""The exchange bundle as bytes: manifest encoding, hashing, signature check, item sealing and
the receiver key exchange (docs/exchange.md is the contract; nothing here touches a database).

Guarantees:
- the manifest is canonical JSON (sorted keys, no spaces, UTF-8, no floats); `parse_manifest`
  accepts only bytes that re-encode to themselves, so one manifest has one hash: the bundle
  hash is SHA-256 of exactly the manifest file's bytes, and it is what the next bundle names
  as `previous`;
- the signature is ECDSA P-256 over SHA-256(manifest bytes), raw r||s (64 bytes), checked here
  in software against the peer's registered public key (`signature_valid`);
- items are AES-256-GCM under one random content key per bundle, each bound by its AAD to the
  bundle (sender, receiver, sequence) and to its own name and kind, so an item moved to another
  bundle or renamed fails to open; the content key travels only wrapped for the receiver's
  P-256 key (ECDH with a fresh ephemeral key, HKDF-SHA256, AES-256-GCM): no plaintext is ever
  in a bundle;
- every refusal is a `BundleRefused` with a `reason` from `REASONS` and a message that names no
  key and no plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.fields import canonical_json

FORMAT = "creditgate-bundle-v1"
SIDES = ("registry", "portal")
KINDS = ("publication",)
ITEM_KINDS = ("provider", "subject", "record", "tombstone")
GENESIS = "0" * 64
ITEM_NAME = re.compile(r"^items/[0-9]{6}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: Why a bundle is refused: each names one check of docs/exchange.md.
REASONS = (
    "incomplete",  # a file is missing or shorter/longer than the manifest says (half-copied)
    "malformed",  # the manifest is not a canonical manifest of this format
    "wrong_receiver",  # meant for the other side, or not from the peer side
    "no_peer",  # no peer key registered yet
    "unknown_sender",  # names a sender key other than the registered peer's
    "bad_signature",  # the manifest is not signed by the peer's registered key
    "item_tampered",  # an item's bytes do not hash (or open) as the manifest says
    "replayed",  # this very bundle was imported before
    "fork",  # another bundle with this sequence number was imported
    "gap",  # a sequence number was skipped
    "broken_chain",  # `previous` is not the hash of the last imported bundle
    "unappliable",  # the items are sound but cannot be applied here (nothing was)
)


class BundleRefused(Exception):
    """A bundle failed a check; nothing of it was applied."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ManifestItem:
    name: str
    kind: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    sender: str
    receiver: str
    kind: str
    sequence: int
    previous: str
    created_at: str
    sender_key: str
    receiver_key: str
    ephemeral_key: bytes
    wrapped_content_key: bytes
    counts: dict[str, int]
    items: tuple[ManifestItem, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "from": self.sender,
            "to": self.receiver,
            "kind": self.kind,
            "sequence": self.sequence,
            "previous": self.previous,
            "created_at": self.created_at,
            "sender_key": self.sender_key,
            "receiver_key": self.receiver_key,
            "key_exchange": {
                "algorithm": "ECDH-ES-P256+HKDF-SHA256+A256GCM",
                "ephemeral_key": _b64(self.ephemeral_key),
                "wrapped_content_key": _b64(self.wrapped_content_key),
            },
            "counts": dict(self.counts),
            "items": [
                {"name": i.name, "kind": i.kind, "sha256": i.sha256, "size": i.size}
                for i in self.items
            ],
        }

    def encode(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def context(self) -> bytes:
        """What binds keys and items to this bundle: sender, receiver, sequence."""
        return f"{FORMAT}|{self.sender}|{self.receiver}|{self.sequence}".encode()


def bundle_hash(manifest_bytes: bytes) -> str:
    return hashlib.sha256(manifest_bytes).hexdigest()


def key_fingerprint(public_der: bytes) -> str:
    """SHA-256 of a DER SubjectPublicKeyInfo, hex: how a manifest and an operator name a key."""
    return hashlib.sha256(public_der).hexdigest()


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest in `raw`, or `BundleRefused("malformed")`."""

    def bad(problem: str) -> BundleRefused:
        return BundleRefused("malformed", f"the manifest {problem}")

    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("is not JSON") from None
    if not isinstance(doc, dict) or canonical_json(doc) != raw:
        raise bad("is not in canonical form")
    try:
        exchange, counts = doc["key_exchange"], doc["counts"]
        items = tuple(ManifestItem(**item) for item in doc["items"])
        manifest = Manifest(
            sender=doc["from"],
            receiver=doc["to"],
            kind=doc["kind"],
            sequence=doc["sequence"],
            previous=doc["previous"],
            created_at=doc["created_at"],
            sender_key=doc["sender_key"],
            receiver_key=doc["receiver_key"],
            ephemeral_key=base64.b64decode(exchange["ephemeral_key"], validate=True),
            wrapped_content_key=base64.b64decode(exchange["wrapped_content_key"], validate=True),
            counts=counts,
            items=items,
        )
    except (KeyError, TypeError, ValueError):
        raise bad("lacks a field or has one of the wrong type") from None
    if doc.get("format") != FORMAT or manifest.to_json() != doc:
        raise bad(f"is not of the format {FORMAT}")
    _check_fields(manifest, bad)
    return manifest


def _check_fields(m: Manifest, bad: Any) -> None:
    if m.sender not in SIDES or m.receiver not in SIDES or m.sender == m.receiver:
        raise bad("names no sender and receiver side")
    if m.kind not in KINDS:
        raise bad(f"names an unknown bundle kind {m.kind!r}")
    if isinstance(m.sequence, bool) or not isinstance(m.sequence, int) or m.sequence < 1:
        raise bad("has no sequence number from 1 on")
    for value in (m.previous, m.sender_key, m.receiver_key):
        if not isinstance(value, str) or not _HEX64.match(value):
            raise bad("has a hash that is not 64 hex digits")
    names = [item.name for item in m.items]
    if len(set(names)) != len(names):
        raise bad("lists an item twice")
    tally: dict[str, int] = {}
    for item in m.items:
        if not isinstance(item.name, str) or not ITEM_NAME.match(item.name):
            raise bad("names an item outside items/NNNNNN")
        if item.kind not in ITEM_KINDS or not _HEX64.match(str(item.sha256)):
            raise bad("has an item of unknown kind or hash")
        if isinstance(item.size, bool) or not isinstance(item.size, int) or item.size < 0:
            raise bad("has an item of no size")
        tally[item.kind] = tally.get(item.kind, 0) + 1
    if m.counts != {kind: tally.get(kind, 0) for kind in ITEM_KINDS}:
        raise bad("counts do not match its items")


def signature_valid(public_der: bytes, message: bytes, signature: bytes) -> bool:
    """True iff `signature` (raw r||s) is ECDSA P-256/SHA-256 over `message` by that key."""
    if len(signature) != 64:
        return False
    key = serialization.load_der_public_key(public_der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --- the receiver's key and the content key ----------------------------------------------------


def new_receive_key() -> tuple[bytes, bytes]:
    """A fresh P-256 key pair for receiving bundles: (private scalar, 32 bytes; public DER)."""
    private = ec.generate_private_key(ec.SECP256R1())
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    return scalar, _public_der(private.public_key())


def receive_public_der(scalar: bytes) -> bytes:
    return _public_der(_private(scalar).public_key())


def wrap_content_key(
    receiver_public_der: bytes, content_key: bytes, context: bytes
) -> tuple[bytes, bytes]:
    """(ephemeral public DER, wrapped content key) for the receiver's public key."""
    peer = serialization.load_der_public_key(receiver_public_der)
    if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != "secp256r1":
        raise ValueError("the receiver key is not a P-256 public key")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    ephemeral_der = _public_der(ephemeral.public_key())
    kek = _kek(ephemeral.exchange(ec.ECDH(), peer), ephemeral_der, context)
    nonce = os.urandom(12)
    return ephemeral_der, nonce + AESGCM(kek).encrypt(nonce, content_key, context)


def unwrap_content_key(
    scalar: bytes, ephemeral_der: bytes, wrapped: bytes, context: bytes
) -> bytes:
    """Inverse of `wrap_content_key` with the receiver's private scalar."""
    try:
        peer = serialization.load_der_public_key(ephemeral_der)
        if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != "secp256r1":
            raise ValueError
        kek = _kek(_private(scalar).exchange(ec.ECDH(), peer), ephemeral_der, context)
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], context)
    except (ValueError, InvalidTag):
        raise BundleRefused(
            "item_tampered", "the content key does not open with this side's receive key"
        ) from None


def new_content_key() -> bytes:
    return os.urandom(32)


def item_aad(context: bytes, name: str, kind: str) -> bytes:
    return b"cg-bundle-item\x00" + context + f"|{name}|{kind}".encode()


def seal_item(content_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(content_key).encrypt(nonce, plaintext, aad)


def open_item(content_key: bytes, sealed: bytes, aad: bytes, name: str) -> bytes:
    try:
        return AESGCM(content_key).decrypt(sealed[:12], sealed[12:], aad)
    except (InvalidTag, ValueError):
        raise BundleRefused("item_tampered", f"{name} does not open") from None


def _kek(shared: bytes, ephemeral_der: bytes, context: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_der, info=context)
    return hkdf.derive(shared)


def _private(scalar: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())


def _public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_sequence(
    manifest: Manifest, this_hash: str, last: tuple[int, str] | None, seen_hash: str | None
) -> None:
    """Refuse a replay, a fork, a gap or a broken chain. `last` is (sequence, hash) of the
    last bundle imported from this sender; `seen_hash` the hash imported under this
    bundle's sequence number, if any."""
    if seen_hash is not None:
        if seen_hash == this_hash:
            raise BundleRefused(
                "replayed", f"bundle {manifest.sequence} was imported before: nothing applied"
            )
        raise BundleRefused(
            "fork",
            f"another bundle {manifest.sequence} from the {manifest.sender} was imported "
            f"(hash {seen_hash[:16]}…): two bundles with one sequence number",
        )
    last_sequence, last_hash = last if last is not None else (0, GENESIS)
    if manifest.sequence <= last_sequence:
        raise BundleRefused("fork", f"bundle {manifest.sequence} is behind {last_sequence}")
    if manifest.sequence > last_sequence + 1:
        raise BundleRefused(
            "gap",
            f"bundle {manifest.sequence} follows {last_sequence}: bundle "
            f"{last_sequence + 1} must be imported first",
        )
    if manifest.previous != last_hash:
        raise BundleRefused(
            "broken_chain",
            f"bundle {manifest.sequence} does not follow the last imported bundle's hash",
        )


def is_p256_public_key(der: bytes) -> bool:
    """True iff `der` is a DER SubjectPublicKeyInfo of a P-256 key."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        return False
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
