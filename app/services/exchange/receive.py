"""Importing a publication bundle on the portal: every check first, then all of it or none.

Guarantees:
- checks, in this order, each refusing with `BundleRefused(reason)` (crypto.bundle.REASONS):
  the directory is whole (`incomplete`), the manifest canonical (`malformed`), meant for this
  side from its peer (`wrong_receiver`), from the registered peer key (`no_peer`,
  `unknown_sender`) and signed by it (`bad_signature`), wrapped for this side's receive key
  (`wrong_receiver`), next in the chain (`replayed`, `fork`, `gap`, `broken_chain`), and every
  item hashing and opening as the manifest says (`item_tampered`); only then is anything
  applied;
- everything is applied in the caller's one unit of work together with the bundle's entry in
  the chain: a refusal or failure part-way leaves nothing of the bundle, and a bundle already
  imported is refused as `replayed` with nothing applied, so importing twice is importing once;
- providers, subjects and records keep the registry's ids; identities and payloads are sealed
  under this side's own data keys (records under their expiry epoch's), and subjects are found
  by this side's own blind index; the public-list index follows the records;
- tombstones: `withdrawn` marks the record withdrawn; `shredded` deletes it and every row
  derived from it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import DataProvider, ExchangeBundle, PublicListEntry, Record, Subject
from app.services.exchange import files
from app.services.exchange.keys import peer_of, receive_key, registered_peer
from app.services.keys.lifecycle import (
    KeyLifecycleError,
    KeyService,
    delete_records,
    wrapping_label_for,
)
from app.services.lists.public_lists import index_rows
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.bundle import (
    BundleRefused,
    Manifest,
    bundle_hash,
    check_sequence,
    item_aad,
    key_fingerprint,
    open_item,
    signature_valid,
    unwrap_content_key,
)
from crypto.keys import WrappingKey

_ENTRIES = cast(Table, PublicListEntry.__table__)


@dataclass(frozen=True)
class Imported:
    sequence: int
    bundle_hash: str
    counts: dict[str, int]


def import_bundle(
    db: Session, keys: KeyService, *, side: str, path: Path, public_types: frozenset[str]
) -> Imported:
    """Check the bundle at `path` and apply it in `db`'s unit; `BundleRefused` otherwise."""
    bundle = files.read_bundle(path)
    manifest, raw = bundle.manifest, bundle.manifest_bytes
    sender = peer_of(side)
    if manifest.receiver != side or manifest.sender != sender:
        raise BundleRefused(
            "wrong_receiver",
            f"the bundle goes from the {manifest.sender} to the {manifest.receiver}; "
            f"this is the {side}",
        )
    peer = registered_peer(db, side)
    if peer is None:
        raise BundleRefused("no_peer", f"no {sender} key is registered here")
    if manifest.sender_key != key_fingerprint(peer.sign_public_der):
        raise BundleRefused("unknown_sender", f"signed by a key that is not the {sender}'s")
    if not signature_valid(peer.sign_public_der, raw, bundle.signature):
        raise BundleRefused("bad_signature", f"the manifest is not signed by the {sender}'s key")
    this_hash = bundle_hash(raw)
    last = db.execute(
        select(ExchangeBundle.sequence, ExchangeBundle.bundle_hash)
        .where(ExchangeBundle.direction == "in", ExchangeBundle.peer == sender)
        .order_by(ExchangeBundle.sequence.desc())
        .limit(1)
        .with_for_update()
    ).first()
    seen = db.scalar(
        select(ExchangeBundle.bundle_hash).where(
            ExchangeBundle.direction == "in",
            ExchangeBundle.peer == sender,
            ExchangeBundle.sequence == manifest.sequence,
        )
    )
    check_sequence(manifest, this_hash, None if last is None else (last[0], last[1]), seen)
    own, scalar = receive_key(db, keys.provider)
    if manifest.receiver_key != key_fingerprint(own.public_der):
        raise BundleRefused("wrong_receiver", "the bundle is wrapped for another receive key")
    bodies = _open_items(bundle, manifest, scalar)
    _Apply(db, keys, public_types).run(bodies)
    db.add(
        ExchangeBundle(
            direction="in",
            peer=sender,
            sequence=manifest.sequence,
            bundle_hash=this_hash,
            previous_hash=manifest.previous,
            kind=manifest.kind,
            item_count=len(manifest.items),
        )
    )
    db.flush()
    return Imported(manifest.sequence, this_hash, dict(manifest.counts))


def _open_items(
    bundle: files.BundleOnDisk, manifest: Manifest, scalar: bytes
) -> list[tuple[str, dict[str, Any]]]:
    blobs = []
    for item in manifest.items:
        blob = bundle.item(item.name)
        if len(blob) != item.size or hashlib.sha256(blob).hexdigest() != item.sha256:
            raise BundleRefused("item_tampered", f"{item.name} does not hash as listed")
        blobs.append((item, blob))
    content_key = unwrap_content_key(
        scalar, manifest.ephemeral_key, manifest.wrapped_content_key, manifest.context
    )
    bodies = []
    for item, blob in blobs:
        aad = item_aad(manifest.context, item.name, item.kind)
        plain = open_item(content_key, blob, aad, item.name)
        body = json.loads(plain.decode("utf-8"))
        if not isinstance(body, dict):
            raise BundleRefused("unappliable", f"{item.name} is not an object")
        bodies.append((item.kind, body))
    return bodies


class _Apply:
    def __init__(self, db: Session, keys: KeyService, public_types: frozenset[str]) -> None:
        self.db, self.keys, self.public_types = db, keys, public_types

    def run(self, bodies: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            for kind, body in bodies:
                getattr(self, kind)(body)
            self.db.flush()
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleRefused(
                "unappliable", f"an item lacks a field or has a bad value ({type(exc).__name__})"
            ) from None
        except (IntegrityError, KeyLifecycleError) as exc:
            raise BundleRefused(
                "unappliable", f"the items clash with what is here ({type(exc).__name__})"
            ) from None

    def provider(self, body: dict[str, Any]) -> None:
        provider_id = uuid.UUID(body["id"])
        row = self.db.get(DataProvider, provider_id)
        if row is None:
            row = DataProvider(id=provider_id, credit_code=body["credit_code"])
            self.db.add(row)
        row.name, row.kind = body["name"], body["kind"]
        self.db.flush()

    def subject(self, body: dict[str, Any]) -> None:
        subject_id, identity = uuid.UUID(body["id"]), body["identity"]
        bidx = blind_index(self.keys.provider, BlindIndexKind.CITIZEN_ID, identity["id_number"])
        key_id = self.keys.active_key_id(self.db, WrappingKey.MASTER.value)
        row = self.db.get(Subject, subject_id)
        if row is None:
            row = Subject(id=subject_id, id_bidx=bidx, data_key_id=key_id)
            self.db.add(row)
        row.id_bidx, row.data_key_id = bidx, key_id
        row.seal("identity", identity, self.keys.cipher, key_id)
        self.db.flush()

    def record(self, body: dict[str, Any]) -> None:
        record_id = uuid.UUID(body["id"])
        row = self.db.get(Record, record_id)
        if row is None:
            destroy_after = _day(body["destroy_after"])
            key_id = self.keys.active_key_id(self.db, wrapping_label_for(destroy_after))
            row = Record(
                id=record_id,
                subject_id=uuid.UUID(body["subject_id"]),
                provider_id=uuid.UUID(body["provider_id"]),
                record_type=body["record_type"],
                category=body["category"],
                disclosure=body["disclosure"],
                is_negative=bool(body["is_negative"]),
                occurred_on=date.fromisoformat(body["occurred_on"]),
                ended_on=_day(body["ended_on"]),
                display_until=_day(body["display_until"]),
                destroy_after=destroy_after,
                catalog_version=body["catalog_version"],
                data_key_id=key_id,
                provider_record_id=body["provider_record_id"],
                version=int(body["version"]),
                received_on=_day(body["received_on"]),
            )
            row.seal("payload", body["payload"], self.keys.cipher, key_id)
            self.db.add(row)
        row.status, row.change_reason = body["status"], body["change_reason"]
        changed = body["status_changed_at"]
        row.status_changed_at = None if changed is None else datetime.fromisoformat(changed)
        self.db.flush()
        self._index(row)

    def tombstone(self, body: dict[str, Any]) -> None:
        record_id, reason = uuid.UUID(body["id"]), body["reason"]
        if reason == "shredded":
            delete_records(self.db, [record_id])
            return
        if reason != "withdrawn":
            raise ValueError("unknown tombstone reason")
        row = self.db.get(Record, record_id)
        if row is not None:
            row.status, row.change_reason = "withdrawn", "withdrawn"
            row.status_changed_at = datetime.fromisoformat(body["at"])
            self.db.flush()
            self._index(row)

    def _index(self, record: Record) -> None:
        self.db.execute(delete(_ENTRIES).where(_ENTRIES.c.record_id == record.id))
        if record.status != "current" or record.record_type not in self.public_types:
            return
        subject = self.db.get(Subject, record.subject_id)
        if subject is None:
            raise ValueError("a record of a subject not sent")
        identity = subject.unseal("identity", self.keys.cipher)
        rows = index_rows(
            self.keys.provider,
            subject_id=subject.id,
            id_bidx=subject.id_bidx,
            name=identity["name"],
            records=[(record.id, record.record_type)],
            public_types=self.public_types,
        )
        if rows:
            self.db.execute(insert(_ENTRIES), rows)


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)
