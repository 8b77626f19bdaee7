"""Department intake from a JSON Lines file vs a plain insert of the same rows; memory over the
load; a correction vs a new record for a subject holding 200 records.

`python -m bench.intake_jsonl [--records 1000000] [--backend sqlite|postgresql]`

- The file: demo residents' records (`app.demo.generator`) as rows of the unified format from one
  provider (negative types with their prior notice; consent-bound fields left out; rows already
  past their destruction day left out, so both sides store every row).
- Sealed: exactly `flask intake load` — the file's SHA-256 and detached signature checked, then
  `BatchService` streams it in chunks of 1,000: every row checked against the format, the
  catalog and the rules of law, subjects found by HSM blind index, payloads and identities
  sealed, one unit of work per chunk.
- Plain baseline: the same file read and parsed line by line, subjects looked up and inserted by
  their ID number in clear, records inserted with their JSON in clear, one transaction per
  chunk of 1,000, on the same database engine and settings.
- Memory: the process's resident set when 10% and when 100% of the rows are loaded.
- Correction: one-row batches against a subject holding 200 records: a correction of one of them
  vs a new record, alternated, medians of each.
Goals (reported, not asserted): sealed >= 0.4x plain; resident memory flat from 10% to 100%;
a correction as fast as a new record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    insert,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine
from app.demo.generator import generate_providers, generate_subjects
from app.models.ids import uuid7
from app.services.intake.batches import CHUNK_ROWS, BatchService, Submission
from app.services.intake.providers import ProviderService
from app.services.intake.rows import read_rows
from app.services.intake.signed_file import HashingReader, digest_file, verify_signature
from app.services.querylog.log import QueryLog
from bench.harness import BenchToken, cipher_for, postgresql_database, save, sqlite_database
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.catalog import Catalog, load_catalog
from policies.identifiers import make_credit_code
from policies.intake_rules import default_intake_rules
from policies.policy_data import load_policy
from policies.retention import retention_dates

TODAY = date(2026, 12, 4)
POLICY_VERSION = load_policy().version
PROVIDER_CODE = make_credit_code("1", "1", "500000", "99000001")

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
    # the records table's own columns and indexes, with the payload as clear JSON
    Column("id", Uuid, primary_key=True),
    Column("subject_id", Uuid),
    Column("provider_id", Uuid),
    Column("provider_record_id", String(64)),
    Column("version", Integer),
    Column("status", String(16)),
    Column("record_type", String(64)),
    Column("category", String(1)),
    Column("disclosure", String(16)),
    Column("is_negative", Boolean),
    Column("occurred_on", Date),
    Column("ended_on", Date),
    Column("display_until", Date),
    Column("destroy_after", Date, index=True),
    Column("catalog_version", String(64)),
    Column("received_on", Date),
    Column("batch_id", Uuid),
    Column("created_at", DateTime(timezone=True)),
    Column("payload", Text),
    Index("ix_plain_records_subject_id_category", "subject_id", "category"),
    UniqueConstraint("provider_id", "provider_record_id", "version"),
)


def write_file(path: Path, records: int, catalog: Catalog) -> int:
    """Rows of the unified format until `records` are written; returns the count."""
    providers = generate_providers(17)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for subject in generate_subjects(10**7, 17, providers, catalog, today=TODAY):
            for index, record in enumerate(subject.records):
                record_type = catalog.require(record.record_type)
                _, destroy = retention_dates(
                    record_type.retention, record.occurred_on, record.ended_on
                )
                if destroy is not None and destroy < TODAY:
                    continue
                fields = {
                    name: value
                    for name, value in record.payload.items()
                    if not record_type.field(name).consent_required
                }
                row: dict[str, Any] = {
                    "op": "add",
                    "provider": PROVIDER_CODE,
                    "record_id": f"{subject.id_number[-8:]}-{written}-{index}",
                    "type": record.record_type,
                    "subject": {"id_number": subject.id_number, "name": subject.name},
                    "occurred_on": record.occurred_on.isoformat(),
                    "fields": fields,
                }
                if record.ended_on is not None:
                    row["ended_on"] = record.ended_on.isoformat()
                if record_type.requires_notice:
                    row["notice"] = {
                        "notified_on": record.occurred_on.isoformat(),
                        "channel": "letter",
                    }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
                if written >= records:
                    return written
    return written


def rss_mib() -> float:
    """The resident set now (not the peak), from /proc."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class BenchParts:
    """What `BatchService` needs of the container, over a benchmark database."""

    sessions: sessionmaker[Session]
    key_provider: KeyProvider
    cipher: FieldCipher
    catalog: Catalog

    @contextmanager
    def unit(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def query_log(self) -> QueryLog:
        return QueryLog(self.catalog.version, POLICY_VERSION, signer=self.key_provider)


def _register(parts: BenchParts, key: ec.EllipticCurvePrivateKey) -> uuid.UUID:
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with parts.unit() as db:
        view = ProviderService(default_intake_rules()).register(
            db, credit_code=PROVIDER_CODE, name="基准数据提供单位", kind="court",
            public_key_pem=pem,
        )  # fmt: skip
    return view.id


def sealed_load(
    url: str, provider: KeyProvider, catalog: Catalog, path: Path, rows: int
) -> dict[str, Any]:
    engine, sessions, cipher = cipher_for(url, provider)
    parts = BenchParts(sessions, provider, cipher, catalog)
    key = ec.generate_private_key(ec.SECP256R1())
    provider_id = _register(parts, key)
    signature = key.sign(path.read_bytes(), ec.ECDSA(hashes.SHA256()))
    samples: dict[str, float] = {}
    done = [0]

    def progress(count: int) -> None:
        done[0] += count
        if "rss_10pct_mib" not in samples and done[0] >= rows // 10:
            samples["rss_10pct_mib"] = rss_mib()

    started = time.perf_counter()
    digest = digest_file(path)
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    verify_signature(pem.decode("ascii"), digest, signature)
    submission = Submission(
        provider_id=provider_id, source="file", fmt="jsonl", sha256=digest,
        actor_ref="bench", request_id="bench", client_address="bench", today=TODAY,
        now=_now(),
    )  # fmt: skip
    service = BatchService(parts, default_intake_rules(), progress=progress)
    with path.open("rb") as handle:
        service.run(submission, read_rows(HashingReader(handle), "jsonl", catalog))
    seconds = time.perf_counter() - started
    samples["rss_100pct_mib"] = rss_mib()
    with parts.unit() as db:
        from app.models import IntakeBatch

        (counts,) = db.execute(select(IntakeBatch.added, IntakeBatch.rejected)).all()
    engine.dispose()
    return {"seconds": seconds, "added": counts[0], "rejected": counts[1], **samples}


def plain_load(engine: Engine, path: Path, catalog: Catalog) -> float:
    """The same rows inserted plainly: no checks, no retention, no keys, the ID numbers and
    payloads in clear, in the records table's shape, one transaction per 1,000 rows."""
    plain.create_all(engine)
    provider_id, batch_id = uuid7(), uuid7()
    started = time.perf_counter()
    with path.open("rb") as handle:
        chunk: list[dict[str, Any]] = []
        for raw in handle:
            chunk.append(json.loads(raw))
            if len(chunk) >= CHUNK_ROWS:
                _plain_chunk(engine, chunk, catalog, provider_id, batch_id)
                chunk = []
        if chunk:
            _plain_chunk(engine, chunk, catalog, provider_id, batch_id)
    return time.perf_counter() - started


def _plain_chunk(
    engine: Engine,
    chunk: list[dict[str, Any]],
    catalog: Catalog,
    provider_id: uuid.UUID,
    batch_id: uuid.UUID,
) -> None:
    numbers = sorted({row["subject"]["id_number"] for row in chunk})
    now = _now()
    with engine.begin() as conn:
        known = {
            number: subject_id
            for number, subject_id in conn.execute(
                select(plain_subjects.c.id_number, plain_subjects.c.id).where(
                    plain_subjects.c.id_number.in_(numbers)
                )
            )
        }
        new: list[dict[str, Any]] = []
        for row in chunk:
            number = row["subject"]["id_number"]
            if number not in known:
                known[number] = uuid7()
                new.append(
                    {"id": known[number], "id_number": number, "name": row["subject"]["name"]}
                )
        if new:
            conn.execute(insert(plain_subjects), new)
        records = []
        for row in chunk:
            record_type = catalog.require(row["type"])
            records.append(
                {
                    "id": uuid7(),
                    "subject_id": known[row["subject"]["id_number"]],
                    "provider_id": provider_id,
                    "provider_record_id": row["record_id"],
                    "version": 1,
                    "status": "current",
                    "record_type": record_type.code,
                    "category": record_type.category,
                    "disclosure": record_type.disclosure,
                    "is_negative": record_type.negative,
                    "occurred_on": date.fromisoformat(row["occurred_on"]),
                    "ended_on": date.fromisoformat(row["ended_on"]) if "ended_on" in row else None,
                    "display_until": None,
                    "destroy_after": None,
                    "catalog_version": catalog.version,
                    "received_on": TODAY,
                    "batch_id": batch_id,
                    "created_at": now,
                    "payload": json.dumps(row["fields"], ensure_ascii=False),
                }
            )
        conn.execute(insert(plain_records), records)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 12, 4, 4, tzinfo=UTC)


def correction_vs_new(
    url: str, provider: KeyProvider, catalog: Catalog, rounds: int
) -> dict[str, Any]:
    """One-row batches against a subject holding 200 records: corrections vs new records."""
    engine, sessions, cipher = cipher_for(url, provider)
    parts = BenchParts(sessions, provider, cipher, catalog)
    provider_id = _register(parts, ec.generate_private_key(ec.SECP256R1()))
    person = {"id_number": "500103198503140011", "name": "基准甲"}
    from policies.identifiers import make_citizen_id

    person["id_number"] = make_citizen_id("500103", date(1985, 3, 14), 1)

    def row(record_id: str, amount: int, op: str = "add") -> bytes:
        body: dict[str, Any] = {
            "op": op, "provider": PROVIDER_CODE, "record_id": record_id,
            "type": "C.consumption_payment", "subject": person, "occurred_on": "2026-01-05",
            "fields": {"merchant": "某商户", "merchant_kind": "rent", "amount_fen": amount,
                       "due_date": "2026-01-31", "status": "paid_on_time"},
        }  # fmt: skip
        if op == "correct":
            body["reason"] = "data_error"
        return (json.dumps(body, ensure_ascii=False) + "\n").encode()

    def run(body: bytes) -> float:
        import io

        submission = Submission(
            provider_id=provider_id, source="api", fmt="jsonl",
            sha256=hashlib.sha256(body).digest(), actor_ref="bench", request_id="bench",
            client_address="bench", today=TODAY, now=_now(),
        )  # fmt: skip
        started = time.perf_counter()
        BatchService(parts, default_intake_rules()).run(
            submission, read_rows(io.BytesIO(body), "jsonl", catalog)
        )
        return time.perf_counter() - started

    run(b"".join(row(f"R-{n}", 1000 + n) for n in range(200)))
    new_times, correction_times = [], []
    for n in range(rounds):
        new_times.append(run(row(f"NEW-{n}", 5000 + n)))
        correction_times.append(run(row(f"R-{n % 200}", 90_000 + n, "correct")))
    engine.dispose()
    new_ms = statistics.median(new_times) * 1000
    fix_ms = statistics.median(correction_times) * 1000
    return {
        "rounds": rounds,
        "subject_records": 200,
        "new_record_ms": round(new_ms, 2),
        "correction_ms": round(fix_ms, 2),
        "correction_vs_new": round(fix_ms / new_ms, 3),
    }


def run(
    base: Path, token: BenchToken, catalog: Catalog, *, records: int, backend: str = "sqlite",
    rounds: int = 1, correction_rounds: int = 50,
) -> dict[str, Any]:  # fmt: skip
    path = base / "intake.jsonl"
    written = write_file(path, records, catalog)
    provider = token.provider()
    sealed_runs, plain_runs = [], []
    for round_no in range(rounds):
        url = _database(base, backend, f"intake-sealed-{round_no}")
        sealed_runs.append(sealed_load(url, provider, catalog, path, written))
        plain_url = _database(base, backend, f"intake-plain-{round_no}")
        engine = make_engine(plain_url)
        plain_runs.append(plain_load(engine, path, catalog))
        engine.dispose()
    sealed = min(sealed_runs, key=lambda r: r["seconds"])
    plain_seconds = min(plain_runs)
    result: dict[str, Any] = {
        "backend": backend,
        "records": written,
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "rounds": rounds,
        "sealed_rows_per_s": round(sealed["added"] / sealed["seconds"]),
        "plain_rows_per_s": round(written / plain_seconds),
        "sealed_rejected": sealed["rejected"],
        "rss_10pct_mib": round(sealed["rss_10pct_mib"], 1),
        "rss_100pct_mib": round(sealed["rss_100pct_mib"], 1),
    }
    result["sealed_vs_plain"] = round(result["sealed_rows_per_s"] / result["plain_rows_per_s"], 3)
    result["rss_growth_10_to_100pct_mib"] = round(
        result["rss_100pct_mib"] - result["rss_10pct_mib"], 1
    )
    url = _database(base, backend, "intake-correction")
    result["correction"] = correction_vs_new(url, provider, catalog, correction_rounds)
    provider.close()
    return result


def _database(base: Path, backend: str, name: str) -> str:
    return sqlite_database(base, name) if backend == "sqlite" else postgresql_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_jsonl")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--correction-rounds", type=int, default=50)
    args = parser.parse_args()
    catalog = load_catalog()
    with tempfile.TemporaryDirectory(prefix="cg-bench-intake-") as tmp:
        base = Path(tmp)
        token = BenchToken(base)
        result = run(
            base, token, catalog, records=args.records, backend=args.backend,
            rounds=args.rounds, correction_rounds=args.correction_rounds,
        )  # fmt: skip
    path = save({"intake_jsonl": result})
    print(json.dumps(result, indent=2))
    print(
        f"\nintake of {result['records']:,} JSON Lines records ({result['backend']}): sealed "
        f"{result['sealed_rows_per_s']:,}/s vs plain {result['plain_rows_per_s']:,}/s = "
        f"{result['sealed_vs_plain']}x (>= 0.4x); resident memory {result['rss_10pct_mib']} MiB "
        f"at 10%, {result['rss_100pct_mib']} MiB at 100%; correction "
        f"{result['correction']['correction_ms']} ms vs new record "
        f"{result['correction']['new_record_ms']} ms = {result['correction']['correction_vs_new']}x"
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
