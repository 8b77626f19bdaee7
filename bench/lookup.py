"""City-scale load (constant memory) and blind-index lookups on it, vs a plain-ID lookup.

Seeds 10% and 100% of the target in two child processes through the real loader (their peak
RSS should match: the loader streams). Then looks subjects up by ID number: HSM HMAC blind index
+ indexed select + open the sealed identity, against a baseline of an indexed select by clear ID
number on a table holding the same IDs.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, insert, select

from app.db import make_engine
from app.demo.generator import generate_providers, generate_subjects
from app.migrate import upgrade
from app.models import Subject
from bench.harness import BenchToken, cipher_for
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.fields import FieldContext
from policies.catalog import Catalog

plain = MetaData()
plain_ids = Table("plain_ids", plain, Column("id_number", String(18), primary_key=True))


def _seed(base: Path, token: BenchToken, name: str, count: int) -> tuple[str, dict[str, Any]]:
    url = f"sqlite:///{base / f'{name}.db'}"
    upgrade(url)
    argv = [
        sys.executable,
        "-m",
        "bench.seed_child",
        url,
        str(count),
        token.module,
        token.label,
        str(token.conf),
        str(base / "hsm.lock"),
    ]
    done = subprocess.run(argv, input=token.pin + "\n", capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"seeding {count} subjects failed: {done.stderr[-2000:]}")
    return url, json.loads(done.stdout.strip().splitlines()[-1])


def run(
    base: Path, token: BenchToken, catalog: Catalog, *, subjects: int, lookups: int
) -> dict[str, Any]:
    small_url, small = _seed(base, token, "city-small", max(1000, subjects // 10))
    url, full = _seed(base, token, "city", subjects)
    today = date(2026, 11, 21)
    providers = generate_providers(7)
    rng = random.Random(1)
    picks = sorted(rng.sample(range(subjects), min(lookups, subjects)))
    ids = [
        next(generate_subjects(i + 1, 7, providers, catalog, today=today, start=i)).id_number
        for i in picks
    ]
    rng.shuffle(ids)

    plain_engine = make_engine(f"sqlite:///{base / 'city-plain.db'}")
    plain.create_all(plain_engine)
    with plain_engine.begin() as conn:
        batch: list[dict[str, str]] = []
        for subject in generate_subjects(subjects, 7, providers, catalog, today=today):
            batch.append({"id_number": subject.id_number})
            if len(batch) == 5000:
                conn.execute(insert(plain_ids), batch)
                batch = []
        if batch:
            conn.execute(insert(plain_ids), batch)

    provider = token.provider()
    engine, _sessions, cipher = cipher_for(url, provider)
    found = 0
    with engine.connect() as conn:
        started = time.perf_counter()
        for id_number in ids:
            bidx = blind_index(provider, BlindIndexKind.CITIZEN_ID, id_number)
            row = conn.execute(
                select(Subject.id, Subject.identity).where(Subject.id_bidx == bidx)
            ).one()
            identity = cipher.open_json(
                FieldContext("subjects", "identity", str(row.id)), row.identity
            )
            found += identity["id_number"] == id_number
        sealed_seconds = time.perf_counter() - started
    with plain_engine.connect() as conn:
        started = time.perf_counter()
        for id_number in ids:
            conn.execute(
                select(plain_ids.c.id_number).where(plain_ids.c.id_number == id_number)
            ).one()
        plain_seconds = time.perf_counter() - started
    engine.dispose()
    plain_engine.dispose()
    provider.close()
    assert found == len(ids), "a lookup returned the wrong subject"
    sealed_rate = len(ids) / sealed_seconds
    plain_rate = len(ids) / plain_seconds
    return {
        "seed_small": small,
        "seed_full": full,
        "seed_subjects_per_s": round(full["subjects"] / full["seconds"]),
        "seed_peak_rss_ratio_full_vs_small": round(full["peak_rss_mib"] / small["peak_rss_mib"], 3),
        "lookups": len(ids),
        "blind_index_lookups_per_s": round(sealed_rate),
        "plain_lookups_per_s": round(plain_rate),
        "blind_vs_plain": round(sealed_rate / plain_rate, 3),
        "small_db": small_url,
    }
