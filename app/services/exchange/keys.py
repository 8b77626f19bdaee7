"""This side's exchange identity and its registered peer.

Guarantees:
- the receive key's private half exists only wrapped by the HSM master key (AAD bound to the
  key's id); it is unwrapped in memory for one import and never written or logged;
- the identity document a side hands its peer holds only public keys: the HSM bundle-signing
  key (`cg-bundle-sign`) and the receive key; both sides print their SHA-256 fingerprints so
  operators can compare them out of band;
- a peer is registered once per side; replacing its keys needs `replace=True`, and a document
  naming this side itself, or keys that are not P-256, is refused (`ExchangeSetupError`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ExchangePeer, ExchangeReceiveKey
from app.models.ids import uuid7
from crypto.bundle import (
    is_p256_public_key,
    key_fingerprint,
    new_receive_key,
    receive_public_der,
)
from crypto.fields import canonical_json
from crypto.keys import KeyProvider, SigningKey, WrappingKey
from policies.sides import COMBINED

IDENTITY_FORMAT = "creditgate-exchange-identity-v1"
SIDES = ("registry", "portal")


class ExchangeSetupError(Exception):
    """The exchange is not set up for this (no peer, a bad identity document, wrong side)."""


@dataclass(frozen=True)
class PeerKeys:
    side: str
    sign_public_der: bytes
    receive_public_der: bytes

    @property
    def fingerprints(self) -> dict[str, str]:
        return {
            "sign_key": key_fingerprint(self.sign_public_der),
            "receive_key": key_fingerprint(self.receive_public_der),
        }


def peer_of(side: str) -> str:
    if side not in SIDES:
        raise ExchangeSetupError(
            f"the exchange runs between the registry and the portal; this process is {side!r}"
            + (" (both in one: set CREDITGATE_SIDE)" if side == COMBINED else "")
        )
    return "portal" if side == "registry" else "registry"


def _aad(key_id: object) -> bytes:
    return b"cg1-exchange-receive\x00" + str(key_id).encode()


def receive_key(db: Session, provider: KeyProvider) -> tuple[ExchangeReceiveKey, bytes]:
    """This side's receive key and its private scalar, created on first use."""
    row = db.scalars(select(ExchangeReceiveKey).order_by(ExchangeReceiveKey.id.desc())).first()
    if row is None:
        scalar, public_der = new_receive_key()
        key_id = uuid7()
        wrapped = provider.wrap(WrappingKey.MASTER.value, scalar, _aad(key_id))
        row = ExchangeReceiveKey(id=key_id, public_der=public_der, wrapped_private=wrapped)
        db.add(row)
        db.flush()
        return row, scalar
    scalar = provider.unwrap(WrappingKey.MASTER.value, row.wrapped_private, _aad(row.id))
    if receive_public_der(scalar) != row.public_der:
        raise ExchangeSetupError("the stored receive key does not match its public half")
    return row, scalar


def identity_document(db: Session, provider: KeyProvider, side: str) -> tuple[bytes, PeerKeys]:
    """The public identity this side hands its peer, and its keys (for the fingerprints)."""
    peer_of(side)
    row, _ = receive_key(db, provider)
    keys = PeerKeys(side, provider.public_key_der(SigningKey.BUNDLE), row.public_der)
    document = {
        "format": IDENTITY_FORMAT,
        "side": side,
        "sign_key": base64.b64encode(keys.sign_public_der).decode(),
        "receive_key": base64.b64encode(keys.receive_public_der).decode(),
    }
    return canonical_json(document) + b"\n", keys


def register_peer(db: Session, side: str, document: bytes, *, replace: bool) -> PeerKeys:
    """Register the peer's identity document; `ExchangeSetupError` says why it is refused."""
    expected = peer_of(side)
    try:
        doc = json.loads(document.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != IDENTITY_FORMAT:
            raise ValueError
        keys = PeerKeys(
            doc["side"],
            base64.b64decode(doc["sign_key"], validate=True),
            base64.b64decode(doc["receive_key"], validate=True),
        )
        if not all(map(is_p256_public_key, (keys.sign_public_der, keys.receive_public_der))):
            raise ValueError
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        raise ExchangeSetupError(f"not an {IDENTITY_FORMAT} document with P-256 keys") from None
    if keys.side != expected:
        raise ExchangeSetupError(
            f"the document is the {keys.side}'s identity; this {side} registers the {expected}"
        )
    existing = db.get(ExchangePeer, expected)
    if existing is not None and not replace:
        raise ExchangeSetupError(f"the {expected} is registered already (use --replace)")
    if existing is None:
        existing = ExchangePeer(side=expected)
        db.add(existing)
    existing.sign_public_der = keys.sign_public_der
    existing.receive_public_der = keys.receive_public_der
    db.flush()
    return keys


def registered_peer(db: Session, side: str) -> PeerKeys | None:
    expected = peer_of(side)
    row = db.get(ExchangePeer, expected)
    if row is None:
        return None
    return PeerKeys(row.side, row.sign_public_der, row.receive_public_der)
