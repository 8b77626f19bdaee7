"""Sealed vs plain ingest of the same demo records, and sealed vs plain payload reads.

Sealed: the real `IngestService` (validation, HSM blind index, one AEAD per record and per
identity, data keys by expiry epoch). Plain baseline: the same validation and retention
computation, canonical JSON written unencrypted, ID numbers in clear. A raw baseline (no
validation) is shown too, so the cost of validation and of sealing can be told apart.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    insert,
    select,
)

from app.db import make_engine
from app.demo.generator import SyntheticSubject, generate_providers, generate_subjects
from app.models import Record
from app.models.ids import uuid7
from app.services.intake.ingest import IngestService
from app.services.keys.lifecycle import KeyService
from bench.harness import BenchToken, cipher_for, median_rate, sqlite_database
from crypto.fields import FieldContext, canonical_json
from policies.catalog import Catalog
from policies.identifiers import parse_citizen_id
from policies.payload import validate_payload
from policies.retention import retention_dates

plain = MetaData()
plain_subjects = Table(
    "plain_subjects",
    plain,
    Column("id", Uuid, primary_key=True),
    Column("id_number", String(18), unique=True),
    Column("name", String(100)),
)
plain_records = Table(
    "plain_records",
    plain,
    Column("id", Uuid, primary_key=True),
    Column("subject_id", Uuid, index=True),
    Column("record_type", String(64)),
    Column("category", String(1)),
    Column("disclosure", String(16)),
    Column("is_negative", Boolean),
    Column("occurred_on", Date),
    Column("ended_on", Date),
    Column("display_until", Date),
    Column("destroy_after", Date),
    Column("catalog_version", String(64)),
    Column("payload", LargeBinary),
)


def _plain_rows(
    batch: list[SyntheticSubject], catalog: Catalog, today: date, *, validate: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    subjects: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for subject in batch:
        id_number = (
            parse_citizen_id(subject.id_number, today=today).value
            if validate
            else subject.id_number
        )
        subject_id = uuid7()
        subjects.append({"id": subject_id, "id_number": id_number, "name": subject.name})
        for record in subject.records:
            record_type = catalog.record_types[record.record_type]
            payload = (
                validate_payload(
                    record_type,
                    record.payload,
                    consent_recorded=subject.written_consent,
                    today=today,
                )
                if validate
                else dict(record.payload)
            )
            shown, destroy = retention_dates(
                record_type.retention, record.occurred_on, record.ended_on
            )
            if destroy is not None and destroy < today:
                continue  # the sealed path does not store these either
            records.append(
                {
                    "id": uuid7(),
                    "subject_id": subject_id,
                    "record_type": record_type.code,
                    "category": record_type.category,
                    "disclosure": record_type.disclosure,
                    "is_negative": record_type.negative,
                    "occurred_on": record.occurred_on,
                    "ended_on": record.ended_on,
                    "display_until": shown,
                    "destroy_after": destroy,
                    "catalog_version": catalog.version,
                    "payload": canonical_json(payload),
                }
            )
    return subjects, records


def _plain_ingest(
    engine: Engine,
    batches: list[list[SyntheticSubject]],
    catalog: Catalog,
    today: date,
    *,
    validate: bool,
) -> int:
    count = 0
    for batch in batches:
        subjects, records = _plain_rows(batch, catalog, today, validate=validate)
        with engine.begin() as conn:
            conn.execute(insert(plain_subjects), subjects)
            conn.execute(insert(plain_records), records)
        count += len(records)
    return count


def run(
    base: Path, token: BenchToken, catalog: Catalog, *, subjects: int, rounds: int
) -> dict[str, Any]:
    today = date(2026, 11, 21)
    providers = generate_providers(11)
    population = list(generate_subjects(subjects, 11, providers, catalog, today=today))
    batches = [population[i : i + 1000] for i in range(0, len(population), 1000)]
    provider = token.provider()
    samples: dict[str, list[tuple[int, float]]] = {"sealed": [], "plain": [], "raw": []}
    sealed_url = ""
    # Round 0 is a warm-up, discarded: it creates the expiry-epoch keys in the fresh bench token
    # (a one-time cost per retention month that a running registry has long paid) and warms
    # the interpreter and page cache for every mode alike.
    for round_no in range(rounds + 1):
        for mode in ("sealed", "plain", "raw"):
            url = sqlite_database(base, f"ingest-{mode}-{round_no}")
            if mode == "sealed":
                engine, sessions, cipher = cipher_for(url, provider)
                service = IngestService(KeyService(provider, cipher), catalog, today)
                with sessions() as session, session.begin():
                    service.register_providers(session, providers)
                started = time.perf_counter()
                rows = 0
                for batch in batches:
                    with sessions() as session, session.begin():
                        rows += service.ingest(session, batch).records_added
                if round_no:
                    samples[mode].append((rows, time.perf_counter() - started))
                sealed_url = url
            else:
                engine = make_engine(url)
                plain.create_all(engine)
                started = time.perf_counter()
                rows = _plain_ingest(engine, batches, catalog, today, validate=mode == "plain")
                if round_no:
                    samples[mode].append((rows, time.perf_counter() - started))
                plain_url = url
            engine.dispose()
    result: dict[str, Any] = {
        "subjects": subjects,
        "records": samples["sealed"][0][0],
        "rounds": rounds,
        "sealed_rows_per_s": round(median_rate(samples["sealed"])),
        "plain_rows_per_s": round(median_rate(samples["plain"])),
        "raw_rows_per_s": round(median_rate(samples["raw"])),
    }
    result["sealed_vs_plain"] = round(result["sealed_rows_per_s"] / result["plain_rows_per_s"], 3)
    result["sealed_vs_raw"] = round(result["sealed_rows_per_s"] / result["raw_rows_per_s"], 3)
    result.update(_open_rates(sealed_url, plain_url, provider))
    provider.close()
    return result


def _open_rates(sealed_url: str, plain_url: str, provider: Any) -> dict[str, Any]:
    engine, _sessions, cipher = cipher_for(sealed_url, provider)
    with engine.connect() as conn:
        sealed = conn.execute(select(Record.id, Record.payload)).all()
    plain_engine = make_engine(plain_url)
    with plain_engine.connect() as conn:
        plain_payloads = [row.payload for row in conn.execute(select(plain_records.c.payload))]
    cipher.open_json(
        FieldContext("records", "payload", str(sealed[0].id)), sealed[0].payload
    )  # warm key cache
    started = time.perf_counter()
    for record_id, envelope in sealed:
        cipher.open_json(FieldContext("records", "payload", str(record_id)), envelope)
    sealed_rate = len(sealed) / (time.perf_counter() - started)
    started = time.perf_counter()
    for payload in plain_payloads:
        json.loads(payload)
    plain_rate = len(plain_payloads) / (time.perf_counter() - started)
    engine.dispose()
    plain_engine.dispose()
    return {
        "open_per_s": round(sealed_rate),
        "plain_parse_per_s": round(plain_rate),
        "open_vs_plain_parse": round(sealed_rate / plain_rate, 3),
    }
