"""Publication bundles, registry → portal: new and changed records (with the providers and
subjects they need) and tombstones for withdrawn and shredded records.

Guarantees:
- a bundle holds what changed since the last one the registry exported, judged against
  `exchange_published` (what the portal was last sent of each provider, subject and record);
  a record withdrawn before it was ever sent is not sent at all, a record shredded after it
  was sent becomes a `shredded` tombstone;
- every item is opened from its sealed column and sealed again for the portal alone (crypto
  .bundle: a content key wrapped for the portal's registered receive key): no plaintext is
  written to the device;
- the manifest chains to the previous exported bundle, carries the next sequence number and
  is signed by the HSM key `cg-bundle-sign`;
- `export_publication` writes the bundle under a `.partial` name, then records it and what it
  sent in the caller's unit of work; `publish` renames it (`files.finish`) only after that
  unit committed and discards it otherwise, so the registry's chain and the device agree. A
  bundle left `.partial` by a crash after the commit is finished by the next `publish` to the
  same directory, once its manifest hashes as the chain recorded it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import (
    DataProvider,
    ExchangeBundle,
    ExchangePublished,
    Record,
    Subject,
)
from app.models.base import as_utc
from app.services.exchange import files
from app.services.exchange.keys import ExchangeSetupError, peer_of, registered_peer
from crypto.bundle import (
    GENESIS,
    ITEM_KINDS,
    Manifest,
    ManifestItem,
    bundle_hash,
    item_aad,
    key_fingerprint,
    new_content_key,
    seal_item,
    wrap_content_key,
)
from crypto.fields import FieldCipher, canonical_json
from crypto.keys import KeyProvider, SigningKey

SENT_STATES = ("current", "superseded")


@dataclass
class Exported:
    partial: Path
    sequence: int
    bundle_hash: str
    counts: dict[str, int]


@dataclass
class _Items:
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    published: dict[tuple[str, Any], str] = field(default_factory=dict)
    gone: list[Any] = field(default_factory=list)


def publish(
    units: Callable[[], AbstractContextManager[Session]],
    provider: KeyProvider,
    cipher: FieldCipher,
    *,
    side: str,
    to_dir: Path,
    now: datetime,
) -> tuple[Exported, Path] | None:
    """Export the next publication bundle into `to_dir` in a unit of its own and finish it
    there once committed: (what was exported, the bundle's directory), or None."""
    with units() as db:
        _finish_left_partial(db, side, to_dir)
    exported: Exported | None = None
    try:
        with units() as db:
            exported = export_publication(db, provider, cipher, side=side, to_dir=to_dir, now=now)
    except BaseException:
        if exported is not None:
            files.discard(exported.partial)
        raise
    if exported is None:
        return None
    return exported, files.finish(exported.partial)


def _finish_left_partial(db: Session, side: str, to_dir: Path) -> None:
    receiver = peer_of(side)
    last = db.execute(
        select(ExchangeBundle.sequence, ExchangeBundle.bundle_hash)
        .where(ExchangeBundle.direction == "out", ExchangeBundle.peer == receiver)
        .order_by(ExchangeBundle.sequence.desc())
        .limit(1)
    ).first()
    if last is None:
        return
    partial = to_dir / (files.bundle_name(side, receiver, last.sequence) + files.PARTIAL)
    manifest = partial / files.MANIFEST
    if manifest.is_file() and bundle_hash(manifest.read_bytes()) == last.bundle_hash:
        files.finish(partial)


def export_publication(
    db: Session,
    provider: KeyProvider,
    cipher: FieldCipher,
    *,
    side: str,
    to_dir: Path,
    now: datetime,
) -> Exported | None:
    """Write the next publication bundle to `to_dir` (as `.partial`); None if nothing changed."""
    if side != "registry":
        raise ExchangeSetupError("publication bundles are exported by the registry")
    receiver = peer_of(side)
    peer = registered_peer(db, side)
    if peer is None:
        raise ExchangeSetupError(f"no {receiver} is registered: `flask exchange register-peer`")
    last = db.execute(
        select(ExchangeBundle.sequence, ExchangeBundle.bundle_hash)
        .where(ExchangeBundle.direction == "out", ExchangeBundle.peer == receiver)
        .order_by(ExchangeBundle.sequence.desc())
        .limit(1)
        .with_for_update()
    ).first()
    sequence = 1 if last is None else last.sequence + 1
    items = _changes(db, cipher, now)
    if not items.bodies:
        return None
    content_key = new_content_key()
    draft = Manifest(
        sender=side,
        receiver=receiver,
        kind="publication",
        sequence=sequence,
        previous=GENESIS if last is None else last.bundle_hash,
        created_at=now.isoformat().replace("+00:00", "Z"),
        sender_key=key_fingerprint(provider.public_key_der(SigningKey.BUNDLE)),
        receiver_key=key_fingerprint(peer.receive_public_der),
        ephemeral_key=b"",
        wrapped_content_key=b"",
        counts={},
        items=(),
    )
    ephemeral, wrapped = wrap_content_key(peer.receive_public_der, content_key, draft.context)
    sealed: dict[str, bytes] = {}
    listed: list[ManifestItem] = []
    for number, (kind, body) in enumerate(items.bodies, start=1):
        name = f"items/{number:06d}"
        blob = seal_item(content_key, canonical_json(body), item_aad(draft.context, name, kind))
        sealed[name] = blob
        listed.append(ManifestItem(name, kind, _sha256(blob), len(blob)))
    counts = {kind: sum(1 for k, _ in items.bodies if k == kind) for kind in ITEM_KINDS}
    manifest = replace(
        draft,
        ephemeral_key=ephemeral,
        wrapped_content_key=wrapped,
        counts=counts,
        items=tuple(listed),
    )
    raw = manifest.encode()
    signature = provider.sign(SigningKey.BUNDLE, raw)
    name = files.bundle_name(side, receiver, sequence)
    partial = files.write_partial(to_dir, name, raw, signature, sealed)
    try:
        _record(db, receiver, manifest, raw, items)
    except BaseException:
        files.discard(partial)
        raise
    return Exported(partial, sequence, bundle_hash(raw), counts)


def _record(db: Session, receiver: str, manifest: Manifest, raw: bytes, items: _Items) -> None:
    db.add(
        ExchangeBundle(
            direction="out",
            peer=receiver,
            sequence=manifest.sequence,
            bundle_hash=bundle_hash(raw),
            previous_hash=manifest.previous,
            kind=manifest.kind,
            item_count=len(manifest.items),
        )
    )
    for (kind, ref), state in items.published.items():
        row = db.get(ExchangePublished, (kind, ref))
        if row is None:
            db.add(ExchangePublished(kind=kind, ref=ref, state=state, sequence=manifest.sequence))
        else:
            row.state, row.sequence = state, manifest.sequence
    if items.gone:
        db.execute(
            delete(ExchangePublished).where(
                ExchangePublished.kind == "record", ExchangePublished.ref.in_(items.gone)
            )
        )
    db.flush()


def _changes(db: Session, cipher: FieldCipher, now: datetime) -> _Items:
    sent: dict[tuple[str, Any], str] = {
        (row.kind, row.ref): row.state for row in db.scalars(select(ExchangePublished))
    }
    items = _Items()
    providers: list[tuple[str, dict[str, Any]]] = []
    subjects: list[tuple[str, dict[str, Any]]] = []
    records: list[tuple[str, dict[str, Any]]] = []
    tombstones: list[tuple[str, dict[str, Any]]] = []
    present: set[Any] = set()
    for record in db.scalars(select(Record).order_by(Record.id)):
        present.add(record.id)
        before = sent.get(("record", record.id))
        if record.status in SENT_STATES:
            if before == record.status:
                continue
            if ("provider", record.provider_id) not in sent:
                providers.append(("provider", _provider(db, record.provider_id)))
                sent[("provider", record.provider_id)] = items.published[
                    ("provider", record.provider_id)
                ] = "sent"
            if ("subject", record.subject_id) not in sent:
                subjects.append(("subject", _subject(db, cipher, record.subject_id)))
                sent[("subject", record.subject_id)] = items.published[
                    ("subject", record.subject_id)
                ] = "sent"
            records.append(("record", _record_body(record, cipher)))
        elif before in SENT_STATES:
            tombstones.append(("tombstone", _tombstone(record.id, "withdrawn", record, now)))
        elif before is not None:
            continue
        items.published[("record", record.id)] = record.status
    for (kind, ref), state in sent.items():
        if kind == "record" and ref not in present and state in SENT_STATES:
            tombstones.append(("tombstone", _tombstone(ref, "shredded", None, now)))
            items.gone.append(ref)
    items.bodies = [*providers, *subjects, *records, *tombstones]
    return items


def _provider(db: Session, provider_id: Any) -> dict[str, Any]:
    row = db.get(DataProvider, provider_id)
    assert row is not None
    return {"id": str(row.id), "credit_code": row.credit_code, "name": row.name, "kind": row.kind}


def _subject(db: Session, cipher: FieldCipher, subject_id: Any) -> dict[str, Any]:
    row = db.get(Subject, subject_id)
    assert row is not None
    return {"id": str(row.id), "identity": row.unseal("identity", cipher)}


def _record_body(record: Record, cipher: FieldCipher) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "subject_id": str(record.subject_id),
        "provider_id": str(record.provider_id),
        "record_type": record.record_type,
        "category": record.category,
        "disclosure": record.disclosure,
        "is_negative": record.is_negative,
        "occurred_on": record.occurred_on.isoformat(),
        "ended_on": _iso(record.ended_on),
        "display_until": _iso(record.display_until),
        "destroy_after": _iso(record.destroy_after),
        "catalog_version": record.catalog_version,
        "provider_record_id": record.provider_record_id,
        "version": record.version,
        "status": record.status,
        "status_changed_at": _instant(record.status_changed_at),
        "change_reason": record.change_reason,
        "received_on": _iso(record.received_on),
        "payload": record.unseal("payload", cipher),
    }


def _tombstone(record_id: Any, reason: str, record: Record | None, now: datetime) -> dict[str, Any]:
    at = record.status_changed_at if record is not None and record.status_changed_at else now
    return {"id": str(record_id), "reason": reason, "at": _instant(at)}


def _instant(value: datetime | None) -> str | None:
    """An instant as ISO 8601 with its offset (SQLite hands back naive UTC datetimes)."""
    return None if value is None else as_utc(value).isoformat()


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
