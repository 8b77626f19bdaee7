"""Grading speed and memory: `Grader.regrade` over every subject of a seeded city vs opening the
same records without scoring.

Seeds `subjects` synthetic subjects (the demo generator: ~20 records each) through the real
loader in a child process. Then, in alternating rounds on the same database:
- **open all** (the issue's baseline): the same keyset pages of subject ids, every current
  record of those subjects read and its payload opened;
- **open needed**: the records of the types the scorecard looks at (grading's own select),
  opening only the payloads grading opens (the field factors' types) — so the ratio to it is
  what scoring and writing the grades cost beyond grading's reads;
- **grading**: `Grader.regrade` on each page in a unit of its own — read, open the payloads it
  needs, score, and write every grade (the table is emptied before each round, so each round
  writes them all).
Memory: tracemalloc peak of grading the first tenth of the subjects vs all of them (a flat
footprint gives a ratio near 1), measured in separate runs (tracemalloc slows everything).
Rates are medians of the rounds; nothing is asserted. `python -m bench.grading --subjects N`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Table,
    delete,
    func,
    select,
    type_coerce,
)

from app.models import GradeApproval, Record, Subject, SubjectGrade
from app.services.grades.grading import Grader, Proposer
from bench.harness import BenchToken, cipher_for, machine, save
from bench.lookup import _seed
from crypto.envelope import Envelope
from crypto.fields import FieldCipher
from policies.catalog import Catalog, load_catalog
from policies.scorecard import default_scorecard

PAGE = 1000
ON = date(2026, 11, 21)
GOAL = 0.5


def _pages(engine: Engine, limit: int | None = None) -> Iterator[list[uuid.UUID]]:
    after: uuid.UUID | None = None
    seen = 0
    while limit is None or seen < limit:
        size = PAGE if limit is None else min(PAGE, limit - seen)
        with engine.connect() as conn:
            query = select(Subject.id).order_by(Subject.id).limit(size)
            if after is not None:
                query = query.where(Subject.id > after)
            page = list(conn.scalars(query))
        if not page:
            return
        seen += len(page)
        after = page[-1]
        yield page


def _open(engine: Engine, cipher: FieldCipher, grader: Grader, *, every: bool) -> int:
    """Read the pages' current records and open them: every record of the subjects, or only
    the ones grading reads and opens."""
    types = sorted(grader.scorecard.record_types)
    needed = grader.scorecard.field_types
    opened = 0
    for page in _pages(engine):
        with engine.connect() as conn:
            query = select(
                Record.subject_id,
                Record.id,
                Record.record_type,
                Record.is_negative,
                Record.occurred_on,
                Record.display_until,
                type_coerce(Record.payload, LargeBinary),
            ).where(Record.subject_id.in_(page), Record.status == "current")
            if not every:
                query = query.where(Record.record_type.in_(types))
            rows = conn.execute(query)
            for row in rows:
                if every or row[2] in needed:
                    cipher.open_json(
                        Record.context_for(row[1], "payload"), Envelope.from_bytes(row[6])
                    )
                    opened += 1
    return opened


def _grade(engine: Engine, grader: Grader, limit: int | None = None) -> int:
    graded = 0
    now = datetime(2026, 11, 21, 9, tzinfo=UTC)
    for page in _pages(engine, limit):
        with engine.begin() as conn:
            counts = grader.regrade(conn, page, on=ON, now=now, proposer=Proposer("bench"))
        graded += counts.graded
    return graded


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(cast(Table, GradeApproval.__table__)))
        conn.execute(delete(cast(Table, SubjectGrade.__table__)))


def _peak(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / (1024 * 1024)


def _count(conn: Connection, what: Any) -> int:
    return int(conn.scalar(select(func.count()).select_from(what)) or 0)


def run(
    base: Path, token: BenchToken, catalog: Catalog, *, subjects: int, rounds: int = 3
) -> dict[str, Any]:
    url, seeded = _seed(base, token, "grading-city", subjects)
    provider = token.provider()
    engine, _sessions, cipher = cipher_for(url, provider)
    grader = Grader(default_scorecard(catalog), cipher)
    with engine.connect() as conn:
        records = _count(conn, Record.__table__)
    times: dict[str, list[float]] = {"open_all": [], "open_needed": [], "grading": []}
    opened: dict[str, int] = {}
    _open(engine, cipher, grader, every=True)  # warm the key ring and the page cache
    for _ in range(rounds):
        for name, every in (("open_all", True), ("open_needed", False)):
            started = time.perf_counter()
            opened[name] = _open(engine, cipher, grader, every=every)
            times[name].append(time.perf_counter() - started)
        _reset(engine)
        started = time.perf_counter()
        graded = _grade(engine, grader)
        times["grading"].append(time.perf_counter() - started)
    with engine.connect() as conn:
        by_grade = dict(
            conn.execute(
                select(SubjectGrade.grade, func.count()).group_by(SubjectGrade.grade)
            ).all()
        )
    _reset(engine)
    tenth = max(1, subjects // 10)
    small_peak = _peak(lambda: _grade(engine, grader, tenth))
    _reset(engine)
    full_peak = _peak(lambda: _grade(engine, grader))
    engine.dispose()
    provider.close()
    rate = {name: subjects / statistics.median(seconds) for name, seconds in times.items()}
    return {
        "subjects": subjects,
        "records": records,
        "records_per_subject": round(records / subjects, 1),
        "seed": seeded,
        "rounds": rounds,
        "payloads_opened": opened,
        "subjects_graded": graded,
        "grades": by_grade,
        "grading_subjects_per_s": round(rate["grading"]),
        "open_all_subjects_per_s": round(rate["open_all"]),
        "open_needed_subjects_per_s": round(rate["open_needed"]),
        "grading_vs_open_all": round(rate["grading"] / rate["open_all"], 3),
        "grading_vs_open_needed": round(rate["grading"] / rate["open_needed"], 3),
        "goal": GOAL,
        "tracemalloc_peak_mib": {
            str(tenth): round(small_peak, 2),
            str(subjects): round(full_peak, 2),
        },
        "peak_ratio_full_vs_tenth": round(full_peak / small_peak, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grading")
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog()
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
        token = BenchToken(Path(tmp))
        result = run(Path(tmp), token, catalog, subjects=args.subjects, rounds=args.rounds)
    path = save({"machine": machine(), "catalog_version": catalog.version, "grading": result})
    print(json.dumps(result, indent=2))
    print(
        f"\ngrading {result['subjects']:,} subjects ({result['records_per_subject']} records "
        f"each): {result['grading_vs_open_all']}x opening the same records "
        f"(>= {GOAL}x; {result['grading_vs_open_needed']}x opening only what grading opens); "
        f"tracemalloc peak {result['peak_ratio_full_vs_tenth']}x at 10x the subjects"
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
