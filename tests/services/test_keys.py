"""Data-key lifecycle on a real database and the real SoftHSM2 token."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.container import container
from app.models import DataKey, DataKeyState, DataProvider, Record, Subject
from app.models.ids import uuid7
from crypto.envelope import Envelope
from crypto.fields import FieldCipher, FieldContext
from crypto.keyring import DataKeyRing, WrappedDataKey, data_key_aad
from crypto.keys import KeyNotFound

COURT = "91500000MA5U0JKX8C"
PAYLOAD = {"amount_fen": 120000, "court": "重庆市第一中级人民法院"}


def _record(app: Flask, session: Session, label: str, destroy_after: date | None) -> Record:
    parts = container(app)
    master = parts.keys.active_key_id(session, "cg-master-wrap")
    provider = session.scalar(select(DataProvider).where(DataProvider.credit_code == COURT))
    if provider is None:
        provider = DataProvider(credit_code=COURT, name="测试法院", kind="court")
    subject = Subject(id=uuid7(), id_bidx=uuid7().bytes * 2, data_key_id=master)
    subject.seal("identity", {"name": "测试"}, parts.cipher, master)
    session.add_all([provider, subject])
    session.flush()
    key_id = parts.keys.active_key_id(session, label)
    record = Record(
        id=uuid7(),
        subject_id=subject.id,
        provider_id=provider.id,
        record_type="D.civil_judgment",
        category="D",
        disclosure="archive",
        is_negative=True,
        occurred_on=date(2020, 1, 1),
        ended_on=date(2021, 1, 1),
        destroy_after=destroy_after,
        catalog_version=parts.catalog.version,
        data_key_id=key_id,
    )
    record.seal("payload", PAYLOAD, parts.cipher, key_id)
    session.add(record)
    session.flush()
    return record


def test_the_active_key_is_created_once_and_reused(app: Flask) -> None:
    parts = container(app)
    with parts.transaction() as session:
        first = parts.keys.active_key_id(session, "cg-master-wrap")
        assert parts.keys.active_key_id(session, "cg-master-wrap") == first
        stored = session.get(DataKey, first)
        assert stored is not None
        assert stored.state == DataKeyState.ACTIVE.value
        assert stored.wrapped is not None
        assert len(stored.wrapped) == 12 + 32 + 16


def test_rotation_and_rewrap_keep_every_value_and_every_payload_ciphertext(app: Flask) -> None:
    parts = container(app)
    with parts.transaction() as session:
        record = _record(app, session, "cg-master-wrap", None)
        before: Envelope = record.payload
        old, new = parts.keys.rotate(session, "cg-master-wrap")
        assert old == before.data_key_id
        # Retired but not yet re-wrapped: old values still open.
        assert record.unseal("payload", parts.cipher) == PAYLOAD
        moved = parts.keys.rewrap_retired(session)
        assert moved == 2  # the record payload and the subject identity
        session.expire_all()
        after = session.get(Record, record.id)
        assert after is not None
        assert after.payload.ciphertext == before.ciphertext
        assert after.payload.nonce == before.nonce
        assert after.payload.data_key_id == after.data_key_id == new
        retired = session.get(DataKey, old)
        assert retired is not None
        assert retired.state == DataKeyState.DESTROYED.value
        assert retired.wrapped is None
    # A process that never saw the old key opens the value through the new one.
    fresh = FieldCipher(DataKeyRing(parts.key_provider, _loader(parts.sessions)))
    ctx = FieldContext("records", "payload", str(record.id))
    assert fresh.open_json(ctx, after.payload) == PAYLOAD


def test_shredding_an_epoch_destroys_its_records_and_every_backup_copy(app: Flask) -> None:
    parts = container(app)
    label = "cg-epoch-2199-03"
    with parts.transaction() as session:
        record = _record(app, session, label, date(2199, 3, 14))
        keep = _record(app, session, "cg-epoch-2199-04", date(2199, 4, 1))
        stored = session.get(DataKey, record.data_key_id)
        assert stored is not None
        assert stored.wrapped is not None
        backup_key = WrappedDataKey(stored.id, stored.wrapping_label, stored.wrapped)
        backup_value = record.payload
        assert parts.keys.shred_epoch(session, 2199, 3) == 1
        assert session.get(Record, record.id) is None
        assert session.get(Record, keep.id) is not None
        assert keep.unseal("payload", parts.cipher) == PAYLOAD
    assert not parts.key_provider.has_key(label)
    # Someone restores the database backup: the wrapped key no longer unwraps anywhere.
    with pytest.raises(KeyNotFound):
        parts.key_provider.unwrap(
            backup_key.wrapping_label,
            backup_key.wrapped,
            data_key_aad(backup_key.key_id, backup_key.wrapping_label),
        )
    restored = FieldCipher(DataKeyRing(parts.key_provider, lambda _id: backup_key))
    with pytest.raises(KeyNotFound):
        restored.open(FieldContext("records", "payload", str(record.id)), backup_value)


def _loader(sessions):  # type: ignore[no-untyped-def]
    from app.services.keys import data_key_loader

    return data_key_loader(sessions)


def test_a_destroyed_data_key_is_not_loaded(app: Flask) -> None:
    parts = container(app)
    with parts.transaction() as session:
        key_id = parts.keys.active_key_id(session, "cg-master-wrap")
        parts.keys.rotate(session, "cg-master-wrap")
        parts.keys.rewrap_retired(session)
        assert session.scalar(select(DataKey.state).where(DataKey.id == key_id)) == "destroyed"
    assert _loader(parts.sessions)(key_id) is None
