"""Data-key lifecycle on a real database and the real SoftHSM2 token."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.container import container
from app.models import DataKey, DataKeyState, DataProvider, PublicListEntry, Record, Subject
from app.models.ids import uuid7
from app.services.keys.lifecycle import KeyLifecycleError, KeyService
from crypto.envelope import Envelope
from crypto.fields import FieldCipher, FieldContext
from crypto.keyring import DataKeyRing, WrappedDataKey, data_key_aad, new_data_key_id
from crypto.keys import HsmUnavailable, KeyNotFound
from tests.conftest import make_app, make_settings
from tests.fakes import InMemoryKeyProvider

COURT = "91500000MA5U0JKX8C"
PAYLOAD = {"amount_fen": 120000, "court": "重庆市第一中级人民法院"}


def _record(
    app: Flask,
    session: Session,
    label: str,
    destroy_after: date | None,
    keys: KeyService | None = None,
) -> Record:
    parts = container(app)
    keys = keys or parts.keys
    master = keys.active_key_id(session, "cg-master-wrap")
    provider = session.scalar(select(DataProvider).where(DataProvider.credit_code == COURT))
    if provider is None:
        provider = DataProvider(credit_code=COURT, name="测试法院", kind="court")
    subject = Subject(id=uuid7(), id_bidx=uuid7().bytes * 2, data_key_id=master)
    subject.seal("identity", {"name": "测试"}, parts.cipher, master)
    session.add_all([provider, subject])
    session.flush()
    key_id = keys.active_key_id(session, label)
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
    with parts.unit() as session:
        first = parts.keys.active_key_id(session, "cg-master-wrap")
        assert parts.keys.active_key_id(session, "cg-master-wrap") == first
        stored = session.get(DataKey, first)
        assert stored is not None
        assert stored.state == DataKeyState.ACTIVE.value
        assert stored.wrapped is not None
        assert len(stored.wrapped) == 12 + 32 + 16


def test_rotation_and_rewrap_keep_every_value_and_every_payload_ciphertext(app: Flask) -> None:
    parts = container(app)
    with parts.unit() as session:
        record = _record(app, session, "cg-master-wrap", None)
        before: Envelope = record.payload
        old, new = parts.keys.rotate(session, "cg-master-wrap")
        assert old == before.data_key_id
        # Retired but not yet re-wrapped: old values still open.
        assert record.unseal("payload", parts.cipher) == PAYLOAD
        progress = parts.keys.rewrap_retired(session)
        assert progress.moved == 2  # the record payload and the subject identity
        assert progress.destroyed == [old]
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


def _keys_on(app: Flask, day: date) -> KeyService:
    parts = container(app)
    return KeyService(parts.key_provider, parts.cipher, today=lambda: day)


def test_shredding_an_epoch_destroys_its_records_and_every_backup_copy(app: Flask) -> None:
    parts = container(app)
    label = "cg-epoch-2199-03"
    with parts.unit() as session:
        record = _record(app, session, label, date(2199, 3, 14), _keys_on(app, date(2199, 1, 2)))
        keep = _record(
            app, session, "cg-epoch-2199-06", date(2199, 6, 1), _keys_on(app, date(2199, 1, 2))
        )
        stored = session.get(DataKey, record.data_key_id)
        assert stored is not None
        assert stored.wrapped is not None
        backup_key = WrappedDataKey(stored.id, stored.wrapping_label, stored.wrapped)
        backup_value = record.payload
        assert _keys_on(app, date(2199, 4, 1)).shred_epoch(session, 2199, 3) == 1
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
    # And the shredded epoch can never be given a key again.
    with parts.unit() as session, pytest.raises(KeyLifecycleError, match="shredded"):
        _keys_on(app, date(2199, 3, 1)).active_key_id(session, label)


def test_shredding_takes_the_public_list_index_rows_of_its_records_along(app: Flask) -> None:
    """A penalty on the public lists is indexed by a row that names the record; shredding its
    month removes both in one unit of work (it used to fail on the foreign key)."""
    parts = container(app)
    before = _keys_on(app, date(2199, 1, 2))
    with parts.unit() as session:
        gone = _record(app, session, "cg-epoch-2199-10", date(2199, 10, 5), before)
        kept = _record(app, session, "cg-epoch-2199-11", date(2199, 11, 5), before)
        for record in (gone, kept):
            session.add(
                PublicListEntry(
                    record_id=record.id,
                    subject_id=record.subject_id,
                    record_type="D.administrative_penalty",
                    name_bidx=bytes(32),
                    id_bidx=bytes(32),
                )
            )
    with parts.unit() as session:
        assert _keys_on(app, date(2199, 11, 1)).shred_epoch(session, 2199, 10) == 1
    with parts.snapshot() as db:
        indexed = set(db.scalars(select(PublicListEntry.record_id)))
        records = set(db.scalars(select(Record.id)))
    assert gone.id not in indexed
    assert gone.id not in records
    assert kept.id in indexed
    assert kept.id in records
    assert not parts.key_provider.has_key("cg-epoch-2199-10")


@pytest.mark.parametrize(
    "today", [date(2199, 3, 31), date(2199, 2, 1)], ids=["same-month", "before"]
)
def test_a_month_that_has_not_ended_cannot_be_shredded(app: Flask, today: date) -> None:
    parts = container(app)
    label = "cg-epoch-2199-07" if today.month == 2 else "cg-epoch-2199-08"
    month = 7 if today.month == 2 else 3
    with parts.unit() as session:
        record = _record(app, session, label, date(2199, 7, 1), _keys_on(app, date(2199, 1, 2)))
        with pytest.raises(KeyLifecycleError, match="has not ended"):
            _keys_on(app, today).shred_epoch(session, 2199, month)
        assert record.unseal("payload", parts.cipher) == PAYLOAD


def test_a_failing_hsm_during_shredding_leaves_every_row_in_place(
    database_url: str, tmp_path: Path
) -> None:
    provider = InMemoryKeyProvider()
    app = make_app(make_settings(database_url, tmp_path), key_provider=provider)
    parts = container(app)
    with parts.unit() as session:
        record = _record(
            app, session, "cg-epoch-2199-09", date(2199, 9, 9), _keys_on(app, date(2199, 1, 1))
        )
    provider.down = True
    with pytest.raises(HsmUnavailable), parts.unit() as session:
        _keys_on(app, date(2199, 12, 1)).shred_epoch(session, 2199, 9)
    provider.down = False
    with parts.sessions() as session:
        again = session.get(Record, record.id)
        assert again is not None
        state = session.scalar(select(DataKey.state).where(DataKey.id == again.data_key_id))
        assert state == DataKeyState.ACTIVE.value
        assert again.unseal("payload", parts.cipher) == PAYLOAD


def test_an_ended_epoch_is_never_given_a_new_key(app: Flask) -> None:
    parts = container(app)
    with parts.unit() as session, pytest.raises(KeyLifecycleError, match="has ended"):
        _keys_on(app, date(2199, 5, 1)).active_key_id(session, "cg-epoch-2199-04")


def test_the_database_refuses_a_second_active_key_for_one_label(app: Flask) -> None:
    parts = container(app)
    with parts.sessions() as session:
        parts.keys.active_key_id(session, "cg-master-wrap")
        session.add(
            DataKey(
                id=new_data_key_id(),
                wrapping_label="cg-master-wrap",
                state=DataKeyState.ACTIVE.value,
                wrapped=b"x" * 60,
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_rewrap_in_batches_destroys_a_retired_key_only_once_nothing_uses_it(app: Flask) -> None:
    parts = container(app)
    with parts.unit() as session:
        records = [_record(app, session, "cg-master-wrap", None) for _ in range(3)]
        old, new = parts.keys.rotate(session, "cg-master-wrap")
        first = parts.keys.rewrap_retired(session, max_rows=2)
        assert (first.moved, first.destroyed, first.still_retired) == (2, [], 1)
        assert session.scalar(select(DataKey.state).where(DataKey.id == old)) == "retired"
        rest = parts.keys.rewrap_retired(session, max_rows=100)
        assert rest.moved == 4  # one record + the three subjects' identities
        assert rest.destroyed == [old]
        session.expire_all()
        for record in records:
            assert record.data_key_id == new
            assert record.unseal("payload", parts.cipher) == PAYLOAD


def _loader(sessions):  # type: ignore[no-untyped-def]
    from app.services.keys.lifecycle import data_key_loader

    return data_key_loader(sessions)


def test_a_destroyed_data_key_is_not_loaded(app: Flask) -> None:
    parts = container(app)
    with parts.unit() as session:
        key_id = parts.keys.active_key_id(session, "cg-master-wrap")
        parts.keys.rotate(session, "cg-master-wrap")
        parts.keys.rewrap_retired(session)
        assert session.scalar(select(DataKey.state).where(DataKey.id == key_id)) == "destroyed"
    assert _loader(parts.sessions)(key_id) is None


def test_rewrap_knows_every_sealed_column_in_the_schema() -> None:
    from app.models import Base
    from app.models.sealed import Sealed
    from app.services.keys.lifecycle import _SEALED

    sealed_columns = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, Sealed)
    }
    listed = {(model.__tablename__, column) for model, columns in _SEALED for column in columns}
    assert listed == sealed_columns


def test_shredding_takes_objections_statements_and_their_answers_along(app: Flask) -> None:
    """What a subject or a registrar wrote about a record is sealed under the record's epoch
    key and its rows name the record: shredding the month removes them with it."""
    from app.models import Objection, ObjectionAnswer, ReleasedRecord, Statement

    parts = container(app)
    before = _keys_on(app, date(2199, 1, 2))
    with parts.unit() as session:
        gone = _record(app, session, "cg-epoch-2199-08", date(2199, 8, 5), before)
        key_id = before.active_key_id(session, "cg-epoch-2199-08")
        objection = Objection(
            id=uuid7(),
            subject_id=gone.subject_id,
            record_id=gone.id,
            provider_id=gone.provider_id,
            provider_record_id=gone.provider_record_id,
            record_type=gone.record_type,
            data_key_id=key_id,
            filed_at=parts.clock.now(),
            stage="objection",
            stage_opened_on=date(2199, 1, 2),
            status="resolved",
            outcome="upheld",
        )
        objection.seal("text", "有误", parts.cipher, key_id)
        statement = Statement(
            id=uuid7(),
            subject_id=gone.subject_id,
            record_id=gone.id,
            provider_id=gone.provider_id,
            provider_record_id=gone.provider_record_id,
            record_type=gone.record_type,
            data_key_id=key_id,
            made_at=parts.clock.now(),
            status="active",
        )
        statement.seal("text", "声明", parts.cipher, key_id)
        session.add_all([objection, statement])
        session.flush()
        session.add(
            ObjectionAnswer(
                objection_id=objection.id,
                stage="objection",
                outcome="upheld",
                answered_at=parts.clock.now(),
            )
        )
    with parts.unit() as session:
        assert _keys_on(app, date(2199, 9, 1)).shred_epoch(session, 2199, 8) == 1
    with parts.snapshot() as db:
        for model in (Objection, ObjectionAnswer, Statement, ReleasedRecord):
            assert db.execute(select(model)).first() is None, model.__name__


def test_rewrap_moves_every_sealed_column_of_an_objection_together(app: Flask) -> None:
    """An objection holds two sealed columns under one data key: both move to the new key."""
    from app.models import Objection

    parts = container(app)
    keys = _keys_on(app, date(2199, 1, 2))
    with parts.unit() as session:
        record = _record(app, session, "cg-epoch-2199-07", date(2199, 7, 5), keys)
        old = keys.active_key_id(session, "cg-epoch-2199-07")
        objection = Objection(
            id=uuid7(),
            subject_id=record.subject_id,
            record_id=record.id,
            provider_id=record.provider_id,
            provider_record_id=record.provider_record_id,
            record_type=record.record_type,
            data_key_id=old,
            filed_at=parts.clock.now(),
            stage="objection",
            stage_opened_on=date(2199, 1, 2),
            status="resolved",
            outcome="upheld",
        )
        objection.seal("text", "金额有误", parts.cipher, old)
        objection.seal("reason", "核实无误", parts.cipher, old)
        session.add(objection)
    with parts.unit() as session:
        _, new = keys.rotate(session, "cg-epoch-2199-07")
        progress = keys.rewrap_retired(session)
    assert old in progress.destroyed
    with parts.unit() as session:
        moved = session.get(Objection, objection.id)
        assert moved is not None
        assert moved.data_key_id == new
        assert moved.unseal("text", parts.cipher) == "金额有误"
        assert moved.unseal("reason", parts.cipher) == "核实无误"
