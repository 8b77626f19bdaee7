"""Credit repair applications and their evidence are sealed under the record's epoch key and
name the record: shredding the month removes them with it (the evidence by cascade), and
rotation re-wraps every sealed column of both."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import RepairApplication, RepairEvidence
from app.models.ids import uuid7
from tests.services.test_keys import _keys_on, _record

PDF = b"%PDF-1.7\n%%EOF\n"


def test_shredding_takes_repair_applications_and_their_evidence_along(app: Flask) -> None:
    parts = container(app)
    before = _keys_on(app, date(2199, 1, 2))
    with parts.unit() as session:
        gone = _record(app, session, "cg-epoch-2199-08", date(2199, 8, 5), before)
        key_id = before.active_key_id(session, "cg-epoch-2199-08")
        application = RepairApplication(
            id=uuid7(),
            subject_id=gone.subject_id,
            record_id=gone.id,
            provider_id=gone.provider_id,
            provider_record_id=gone.provider_record_id,
            record_type=gone.record_type,
            data_key_id=key_id,
            filed_at=parts.clock.now(),
            status="refused",
        )
        application.seal("explanation", "已整改", parts.cipher, key_id)
        application.seal("reason", "材料不足", parts.cipher, key_id)
        session.add(application)
        session.flush()
        evidence = RepairEvidence(
            id=uuid7(),
            application_id=application.id,
            position=1,
            media_type="application/pdf",
            size=len(PDF),
            data_key_id=key_id,
        )
        evidence.content = parts.cipher.seal(evidence.field_context("content"), PDF, key_id)
        session.add(evidence)
    with parts.unit() as session:
        assert before.rotate(session, "cg-epoch-2199-08")[0] == key_id
        assert before.rewrap_retired(session).destroyed == [key_id]
    with parts.unit() as session:
        moved = session.get(RepairApplication, application.id)
        kept = session.get(RepairEvidence, evidence.id)
        assert moved is not None
        assert kept is not None
        assert moved.data_key_id != key_id
        assert moved.unseal("explanation", parts.cipher) == "已整改"
        assert moved.unseal("reason", parts.cipher) == "材料不足"
        assert parts.cipher.open(kept.field_context("content"), kept.content) == PDF
    with parts.unit() as session:
        assert _keys_on(app, date(2199, 9, 1)).shred_epoch(session, 2199, 8) == 1
    with parts.snapshot() as db:
        for model in (RepairApplication, RepairEvidence):
            assert db.execute(select(model)).first() is None, model.__name__
