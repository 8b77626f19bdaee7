"""The review sweep: the review rules over the entries that arrived since the last sweep, each
pattern stored as a flag (`flask review sweep`, from cron).

Guarantees:
- incremental: the sweep reads the entries after the position `review_sweep` holds, up to the
  head it saw when it began, in batches of `batch`; each batch's flags and the new position
  commit together in one unit, so an interrupted sweep resumes where it stopped;
- idempotent: a flag is one per rule and key (a unique constraint); finding it again updates
  its last entry and count (never lowering them), so sweeping the same entries again, with
  `from_start` or after a crash, leaves the same flags;
- serialised: each batch locks the position row (SQLite: the unit's write lock), so two sweeps
  at once read each entry once;
- every new flag opens one review case (`case_views.open_flag_cases`) in the same unit, due
  within the working days of `[cases]` in policies/data/review.toml; a flag found without a
  case (raised before cases existed) gets one at the end of the sweep;
- the sweep reads metadata only (no record, no released value) and writes only flags, their
  cases and its position; it answers nobody, so it is not itself a query-log entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, exists, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import QueryLogEntry, ReviewCase, ReviewFlag, ReviewSweep
from app.services.review.case_views import open_flag_cases
from app.services.review.patterns import COLUMNS, Found, Patterns
from policies.calendar import WorkingCalendar, default_calendar
from policies.review_rules import ReviewRules, load_review_rules

_LOG = cast(Table, QueryLogEntry.__table__)
BATCH = 1000


class SweepParts(Protocol):
    def unit(self) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True)
class SweepResult:
    read: int  # entries read by this sweep
    raised: int  # new flags
    updated: int  # flags found again with a later entry or a higher count
    last_seq: int  # the position reached


class Sweep:
    def __init__(
        self,
        parts: SweepParts,
        rules: ReviewRules | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.parts = parts
        self.rules = rules if rules is not None else load_review_rules()
        self.calendar = calendar if calendar is not None else default_calendar()

    def sweep(self, *, now: datetime, batch: int = BATCH, from_start: bool = False) -> SweepResult:
        read = raised = updated = 0
        with self.parts.unit() as db:
            head = int(db.scalar(select(func.coalesce(func.max(_LOG.c.seq), 0))) or 0)
            state = self._position(db, now)
            if from_start:
                state.last_seq = 0
            last = state.last_seq
        while last < head:
            with self.parts.unit() as db:
                state = self._position(db, now)
                rows = list(
                    db.connection().execute(
                        select(*COLUMNS)
                        .where(_LOG.c.seq > state.last_seq, _LOG.c.seq <= head)
                        .order_by(_LOG.c.seq)
                        .limit(batch)
                    )
                )
                if not rows:
                    break
                found = Patterns(db.connection(), self.rules, self.calendar).found(rows)
                new_flags, changed = _store(db, found, now)
                new = len(new_flags)
                open_flag_cases(db, new_flags, now=now, rules=self.rules, calendar=self.calendar)
                state.last_seq, state.swept_at = rows[-1].seq, now
                state.rules_version = self.rules.version
                read, raised, updated = read + len(rows), raised + new, updated + changed
                last = state.last_seq
        with self.parts.unit() as db:  # flags from before cases existed, or left without one
            orphans = db.scalars(
                select(ReviewFlag)
                .where(~exists().where(ReviewCase.flag_id == ReviewFlag.id))
                .order_by(ReviewFlag.id)
                .limit(batch)
            )
            open_flag_cases(db, list(orphans), now=now, rules=self.rules, calendar=self.calendar)
        return SweepResult(read, raised, updated, last)

    @staticmethod
    def _position(db: Session, now: datetime) -> ReviewSweep:
        """The position row, locked (made at the first sweep: two first sweeps at once make
        it once, and the second waits for the first's lock)."""
        locked = select(ReviewSweep).where(ReviewSweep.id == 1).with_for_update()
        state = db.scalars(locked).one_or_none()
        if state is None:
            dialect = db.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            db.execute(
                insert(ReviewSweep)
                .values(id=1, last_seq=0, rules_version="", swept_at=now)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            state = db.scalars(locked.execution_options(populate_existing=True)).one()
        return state


def _merged(found: Sequence[Found]) -> dict[tuple[str, str], tuple[Found, int, int, int]]:
    """(rule id, key) -> (the finding with the highest count, first seq, last seq, count)."""
    merged: dict[tuple[str, str], tuple[Found, int, int, int]] = {}
    for item in found:
        key = (item.rule.id, item.key)
        if key not in merged:
            merged[key] = (item, item.seq, item.seq, item.count)
            continue
        best, first, last, count = merged[key]
        merged[key] = (
            item if item.count > count else best,
            min(first, item.seq),
            max(last, item.seq),
            max(count, item.count),
        )
    return merged


def _store(db: Session, found: Sequence[Found], now: datetime) -> tuple[list[ReviewFlag], int]:
    merged = _merged(found)
    if not merged:
        return [], 0
    existing = {
        (flag.rule_id, flag.key): flag
        for flag in db.scalars(
            select(ReviewFlag).where(tuple_(ReviewFlag.rule_id, ReviewFlag.key).in_(list(merged)))
        )
    }
    new: list[ReviewFlag] = []
    changed = 0
    for key, (item, first, last, count) in merged.items():
        flag = existing.get(key)
        if flag is None:
            new.append(
                ReviewFlag(
                    rule_id=item.rule.id,
                    key=item.key,
                    severity=item.rule.severity,
                    actor_kind=item.actor_kind,
                    actor_ref=item.actor_ref,
                    subject_bidx=item.subject_bidx,
                    first_seq=first,
                    last_seq=last,
                    count=count,
                    detail=json.dumps(item.detail, sort_keys=True, ensure_ascii=False),
                    created_at=now,
                    updated_at=now,
                )
            )
            db.add(new[-1])
        elif last > flag.last_seq or count > flag.count or first < flag.first_seq:
            flag.first_seq = min(flag.first_seq, first)
            flag.last_seq = max(flag.last_seq, last)
            if count > flag.count:
                flag.count = count
                flag.detail = json.dumps(item.detail, sort_keys=True, ensure_ascii=False)
            flag.updated_at = now
            changed += 1
    db.flush()
    return new, changed
