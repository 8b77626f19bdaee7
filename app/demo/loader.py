"""Stream generated subjects into the ingest service, one committed batch at a time.

Memory stays constant: the generator is lazy, each batch is committed and dropped.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from tqdm import tqdm

from app.container import Container
from app.demo.generator import generate_providers, generate_subjects
from app.models import Subject
from app.services.intake.ingest import IntakeResult


@dataclass
class SeedResult(IntakeResult):
    seconds: float = 0.0

    def add(self, batch: IntakeResult) -> None:
        self.subjects_added += batch.subjects_added
        self.subjects_skipped += batch.subjects_skipped
        self.records_added += batch.records_added
        self.records_expired += batch.records_expired


def seed_demo(
    parts: Container,
    *,
    count: int,
    seed: int,
    batch_size: int,
    today: date,
    if_missing: bool = False,
    progress: bool = False,
) -> SeedResult | None:
    started = time.perf_counter()
    if if_missing:
        with parts.unit() as session:
            present = session.scalar(select(func.count()).select_from(Subject)) or 0
        if present >= count:
            return None  # an interrupted seed is resumed: known subjects are skipped
    providers = generate_providers(seed)
    ingest = parts.ingest()
    ingest.today = today
    with parts.unit() as session:
        ingest.register_providers(session, providers)
    result = SeedResult()
    subjects = generate_subjects(count, seed, providers, parts.catalog, today=today)
    bar = tqdm(total=count, unit="subject", disable=not progress, mininterval=0.5)
    try:
        while batch := list(itertools.islice(subjects, batch_size)):
            with parts.unit() as session:
                outcome = ingest.ingest(session, batch)
            result.add(outcome)
            bar.update(len(batch))
    finally:
        bar.close()
    result.seconds = time.perf_counter() - started
    return result
