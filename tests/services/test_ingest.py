"""Intake on a real database (both backends) with real SoftHSM2 keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from app.container import container
from app.demo.generator import SyntheticSubject, generate_providers, generate_subjects
from app.models import DataKey, Record, Subject
from app.services.intake.ingest import IntakeError
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.envelope import EnvelopeError
from policies.retention import retention_dates

TODAY = date(2026, 11, 21)


@pytest.fixture
def population(app: Flask) -> list[SyntheticSubject]:
    parts = container(app)
    providers = generate_providers(5)
    with parts.unit() as session:
        parts.ingest().register_providers(session, providers)
    return list(generate_subjects(40, 5, providers, parts.catalog, today=TODAY))


def _ingest(app: Flask, batch: list[Any]) -> Any:
    parts = container(app)
    service = parts.ingest()
    service.today = TODAY
    with parts.unit() as session:
        return service.ingest(session, batch)


def test_ingested_subjects_are_found_by_blind_index_and_open_to_their_identity(
    app: Flask, population: list[SyntheticSubject]
) -> None:
    result = _ingest(app, population)
    assert result.subjects_added == 40
    assert result.records_added + result.records_expired == sum(len(s.records) for s in population)
    parts = container(app)
    target = population[17]
    with parts.sessions() as session:
        bidx = blind_index(parts.key_provider, BlindIndexKind.CITIZEN_ID, target.id_number)
        subject = session.scalars(select(Subject).where(Subject.id_bidx == bidx)).one()
        assert subject.unseal("identity", parts.cipher) == {
            "id_number": target.id_number,
            "name": target.name,
        }
        records = session.scalars(select(Record).where(Record.subject_id == subject.id)).all()
        assert sorted(r.record_type for r in records) == sorted(
            r.record_type for r in target.records
        )
        for record in records:
            assert record.catalog_version == parts.catalog.version
            assert isinstance(record.unseal("payload", parts.cipher), dict)


def test_no_id_number_or_name_is_stored_in_clear(
    app: Flask, population: list[SyntheticSubject]
) -> None:
    _ingest(app, population[:5])
    parts = container(app)
    with parts.sessions() as session:
        blobs = [s.identity.to_bytes() for s in session.scalars(select(Subject))]
        blobs += [r.payload.to_bytes() for r in session.scalars(select(Record))]
    for subject in population[:5]:
        assert not any(subject.id_number.encode() in blob for blob in blobs)
        assert not any(subject.name.encode() in blob for blob in blobs)


def test_a_second_intake_of_the_same_subjects_adds_nothing(
    app: Flask, population: list[SyntheticSubject]
) -> None:
    _ingest(app, population[:10])
    again = _ingest(app, population[:10])
    assert (again.subjects_added, again.subjects_skipped, again.records_added) == (0, 10, 0)


def test_lowercase_x_finds_the_same_subject(app: Flask, population: list[SyntheticSubject]) -> None:
    with_x = [s for s in population if s.id_number.endswith("X")]
    if not with_x:  # deterministic population; make one
        pytest.fail("the fixture population should contain an ID ending in X")
    _ingest(app, with_x[:1])
    lower = replace(with_x[0], id_number=with_x[0].id_number.lower())
    assert _ingest(app, [lower]).subjects_skipped == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda s: replace(
                s, id_number=s.id_number[:-1] + ("0" if s.id_number[-1] != "0" else "1")
            ),
            "subject #1: ID number: .*check",
        ),
        (lambda s: replace(s, name=""), "subject #1: name"),
        (
            lambda s: replace(s, records=(replace(s.records[0], record_type="B.crypto_wallet"),)),
            "unknown record type",
        ),
        (
            lambda s: replace(
                s,
                records=(replace(s.records[0], payload={**s.records[0].payload, "religion": "x"}),),
            ),
            "subject #1 record #0",
        ),
        (
            lambda s: replace(
                s, records=(replace(s.records[0], provider_credit_code="91350100M000100Y43"),)
            ),
            "unknown data provider",
        ),
    ],
    ids=[
        "bad-check-character",
        "empty-name",
        "unknown-type",
        "undeclared-field",
        "unknown-provider",
    ],
)
def test_a_bad_subject_refuses_the_whole_batch_and_names_where(
    app: Flask, population: list[SyntheticSubject], mutate: Any, message: str
) -> None:
    batch = [population[0], mutate(population[1]), population[2]]
    with pytest.raises(IntakeError, match=message) as info:
        _ingest(app, batch)
    assert population[1].id_number not in str(info.value)
    parts = container(app)
    with parts.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 0


def test_records_past_their_destruction_date_are_counted_not_stored(
    app: Flask, population: list[SyntheticSubject]
) -> None:
    parts = container(app)
    catalog = parts.catalog
    expired = [
        (subject, record)
        for subject in population
        for record in subject.records
        if (
            end := retention_dates(
                catalog.record_types[record.record_type].retention,
                record.occurred_on,
                record.ended_on,
            )[1]
        )
        is not None
        and end < TODAY
    ]
    assert expired, "the fixture population should hold an expired record"
    result = _ingest(app, population)
    assert result.records_expired == len(expired)
    with parts.sessions() as session:
        labels = set(session.scalars(select(DataKey.wrapping_label)))
        oldest = session.scalar(select(func.min(Record.destroy_after)))
    assert oldest is not None
    assert oldest >= TODAY
    epochs = [label for label in labels if label.startswith("cg-epoch-")]
    assert epochs
    assert min(epochs) >= f"cg-epoch-{TODAY:%Y-%m}"  # no key for an epoch that has ended


def test_records_are_sealed_under_the_key_of_their_expiry_epoch(
    app: Flask, population: list[SyntheticSubject]
) -> None:
    _ingest(app, population)
    parts = container(app)
    with parts.sessions() as session:
        rows = session.execute(
            select(Record.destroy_after, DataKey.wrapping_label).join(
                DataKey, DataKey.id == Record.data_key_id
            )
        ).all()
    assert any(destroy is not None for destroy, _ in rows)
    for destroy, label in rows:
        expected = "cg-master-wrap" if destroy is None else f"cg-epoch-{destroy:%Y-%m}"
        assert label == expected


def test_a_payload_moved_to_another_record_does_not_open(
    app: Flask, population: list[SyntheticSubject]
) -> None:
    _ingest(app, population[:3])
    parts = container(app)
    with parts.sessions() as session:
        first, second = session.scalars(select(Record).limit(2)).all()
        second.payload = first.payload
        with pytest.raises(EnvelopeError):
            second.unseal("payload", parts.cipher)


def test_a_sealed_column_refuses_plaintext(app: Flask) -> None:
    parts = container(app)
    with parts.sessions() as session:
        session.add(Subject(id_bidx=b"\x00" * 32, identity=b"plain text", data_key_id=1))  # type: ignore[arg-type]
        with pytest.raises(StatementError, match="accept only Envelope"):
            session.flush()
