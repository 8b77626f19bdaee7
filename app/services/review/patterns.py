"""The review rules run over a batch of query-log entries: what each finds (ARCHITECTURE §10).

Guarantees:
- every rule decides an entry from the entries at or before it (`seq <=` the entry's), never
  from later ones, so sweeping in one batch or many, at once or entry by entry, finds the same
  patterns with the same counts;
- each finding names its flag's key (the rule's unit: an actor and an hour or a day, a subject
  and a day, or one entry), the entry it rests on, a count, and figures (thresholds, medians);
  the actor by kind and reference and the subject by blind index only;
- history is read through the indexes that lead with the actor (`actor_ref, seq`) or the
  subject (`subject_bidx, seq`), bounded by the rule's window. Times are the service's
  (Asia/Shanghai): an hour, a day and business hours are local ones.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, select

from app.clock import SERVICE_TIME_ZONE
from app.models import Consent, QueryLogEntry, StaffRelation
from app.models.base import as_utc
from app.services.review.log_search import AnyRow, uuid_or_none
from policies.actions import LOGGED_ACTIONS, QUERY_TIERS
from policies.calendar import WorkingCalendar
from policies.review_rules import ReviewRule, ReviewRules

_LOG = cast(Table, QueryLogEntry.__table__)
ZONE = ZoneInfo(SERVICE_TIME_ZONE)
COLUMNS = (
    _LOG.c.seq,
    _LOG.c.at,
    _LOG.c.actor_kind,
    _LOG.c.actor_ref,
    _LOG.c.tier,
    _LOG.c.action,
    _LOG.c.decision,
    _LOG.c.subject_bidx,
    _LOG.c.purpose,
    _LOG.c.consent_jti,
)
INSTITUTION_QUERY = "institution:report:query"
#: The query actions (logged, in a query tier): what "a query outside business hours" means.
_QUERIES = frozenset(action.value for action in LOGGED_ACTIONS if action.tier in QUERY_TIERS)
LIST_SEARCH = "public:list:search"


@dataclass(frozen=True)
class Found:
    """One pattern one rule found, resting on the entry `seq`."""

    rule: ReviewRule
    key: str
    seq: int
    count: int
    actor_kind: str | None = None
    actor_ref: str | None = None
    subject_bidx: bytes | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def local(at: datetime) -> datetime:
    return as_utc(at).astimezone(ZONE)


def _allowed(action: str) -> Callable[[AnyRow], bool]:
    return lambda row: row.action == action and row.decision == "allowed"


class Patterns:
    """Runs `rules` over batches of entries read from `connection`."""

    def __init__(
        self, connection: Connection, rules: ReviewRules, calendar: WorkingCalendar
    ) -> None:
        self.connection = connection
        self.rules = rules
        self.calendar = calendar

    def found(self, batch: Sequence[AnyRow]) -> list[Found]:
        runs: dict[str, Callable[[ReviewRule, Sequence[AnyRow]], Iterable[Found]]] = {
            "denial_burst": self._denial_burst,
            "identity_searches": self._identity_searches,
            "subject_many_institutions": self._many_institutions,
            "off_hours": self._off_hours,
            "consent_last_day": self._consent_last_day,
            "volume_above_baseline": self._volume,
            "consent_rare_purpose": self._rare_purpose,
            "conflict_of_interest": self._conflict_of_interest,
        }
        return [found for rule in self.rules.rules for found in runs[rule.kind](rule, batch)]

    # --- history --------------------------------------------------------------------------------

    def _history(self, by: str, value: Any, since: datetime, upto: int) -> list[AnyRow]:
        """The entries with `by` = `value` from `since` up to the entry `upto`, oldest first."""
        query = (
            select(*COLUMNS)
            .where(_LOG.c[by] == value, _LOG.c.at >= since, _LOG.c.seq <= upto)
            .order_by(_LOG.c.seq)
        )
        return list(self.connection.execute(query).all())

    def _windows(
        self,
        batch: Sequence[AnyRow],
        wanted: Callable[[AnyRow], bool],
        by: str,
        span: timedelta,
    ) -> Iterable[tuple[AnyRow, list[AnyRow]]]:
        """For each wanted entry of the batch: the wanted entries with the same `by` within
        `span` before it, itself included (and nothing after it)."""
        groups: dict[Any, list[AnyRow]] = defaultdict(list)
        for row in batch:
            if wanted(row) and getattr(row, by) is not None:
                groups[getattr(row, by)].append(row)
        for value, rows in groups.items():
            since = min(as_utc(row.at) for row in rows) - span
            history = [r for r in self._history(by, value, since, rows[-1].seq) if wanted(r)]
            for row in rows:
                start = as_utc(row.at) - span
                yield row, [r for r in history if r.seq <= row.seq and as_utc(r.at) > start]

    # --- the rules ------------------------------------------------------------------------------

    def _denial_burst(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        span = timedelta(minutes=rule.figure("minutes"))
        for row, window in self._windows(
            batch, lambda r: r.decision == "denied", "actor_ref", span
        ):
            count = sum(1 for r in window if r.actor_kind == row.actor_kind)
            if count >= rule.figure("denials"):
                hour = local(row.at).strftime("%Y-%m-%dT%H")
                yield Found(
                    rule, f"{row.actor_kind}:{row.actor_ref}:{hour}", row.seq, count,
                    row.actor_kind, row.actor_ref, detail={"denials": count, "hour": hour},
                )  # fmt: skip

    def _identity_searches(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        span = timedelta(hours=rule.figure("hours"))

        def by_number(row: AnyRow) -> bool:
            return _allowed(LIST_SEARCH)(row) and row.subject_bidx is not None

        for row, window in self._windows(batch, by_number, "actor_ref", span):
            people = {bytes(r.subject_bidx) for r in window if r.actor_kind == row.actor_kind}
            if len(people) >= rule.figure("subjects"):
                day = local(row.at).date().isoformat()
                yield Found(
                    rule, f"{row.actor_kind}:{row.actor_ref}:{day}", row.seq, len(people),
                    row.actor_kind, row.actor_ref, detail={"subjects": len(people), "day": day},
                )  # fmt: skip

    def _many_institutions(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        span = timedelta(days=rule.figure("days"))
        wanted = _allowed(INSTITUTION_QUERY)
        for row, window in self._windows(batch, wanted, "subject_bidx", span):
            askers = {r.actor_ref for r in window if r.actor_kind == "institution"}
            if len(askers) >= rule.figure("institutions"):
                bidx = bytes(row.subject_bidx)
                day = local(row.at).date().isoformat()
                yield Found(
                    rule, f"{bidx.hex()}:{day}", row.seq, len(askers), subject_bidx=bidx,
                    detail={"institutions": len(askers), "day": day},
                )  # fmt: skip

    def _off_hours(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        start, end = rule.figure("start_hour"), rule.figure("end_hour")
        for row in batch:
            if row.tier not in QUERY_TIERS or row.action not in _QUERIES:
                continue
            if row.actor_kind not in rule.actor_kinds:
                continue
            if row.decision == "failed":
                continue
            moment = local(row.at)
            working = self.calendar.is_working_day(moment.date())
            if working and start <= moment.hour < end:
                continue
            yield Found(
                rule, f"seq:{row.seq}", row.seq, 1, row.actor_kind, row.actor_ref,
                row.subject_bidx and bytes(row.subject_bidx),
                detail={"local_time": moment.strftime("%Y-%m-%d %H:%M"),
                        "working_day": working},
            )  # fmt: skip

    def _consent_last_day(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        used = [r for r in batch if _allowed(INSTITUTION_QUERY)(r) and r.consent_jti]
        if not used:
            return
        expiries = dict(
            self.connection.execute(
                select(Consent.jti, Consent.expires_at).where(
                    Consent.jti.in_({row.consent_jti for row in used})
                )
            ).all()
        )
        for row in used:
            expires = expiries.get(row.consent_jti)
            if expires is None:
                continue
            last_day = local(as_utc(expires) - timedelta(microseconds=1)).date()
            if local(row.at).date() == last_day:
                yield Found(
                    rule, f"seq:{row.seq}", row.seq, 1, row.actor_kind, row.actor_ref,
                    bytes(row.subject_bidx) if row.subject_bidx is not None else None,
                    detail={"consent_id": row.consent_jti, "last_day": last_day.isoformat()},
                )  # fmt: skip

    def _conflict_of_interest(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        acting = [r for r in batch if r.actor_kind == "staff" and r.subject_bidx is not None]
        staff = {found for r in acting if (found := uuid_or_none(r.actor_ref)) is not None}
        if not staff:
            return
        relations = {
            (str(account), bytes(bidx)): relation
            for account, bidx, relation in self.connection.execute(
                select(
                    StaffRelation.account_id, StaffRelation.subject_bidx, StaffRelation.relation
                ).where(StaffRelation.account_id.in_(staff))
            )
        }
        for row in acting:
            relation = relations.get((row.actor_ref, bytes(row.subject_bidx)))
            if relation is not None:
                yield Found(
                    rule, f"seq:{row.seq}", row.seq, 1, "staff", row.actor_ref,
                    bytes(row.subject_bidx), detail={"relation": relation, "action": row.action},
                )  # fmt: skip

    def _rare_purpose(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        span = timedelta(days=rule.figure("history_days"))
        wanted = _allowed(INSTITUTION_QUERY)
        for ref, rows in _institution_queries(batch).items():
            used = [row for row in rows if row.consent_jti and row.purpose]
            if not used:
                continue
            since = min(as_utc(row.at) for row in used) - span
            history = [r for r in self._history("actor_ref", ref, since, used[-1].seq) if wanted(r)]
            for row in used:
                start = as_utc(row.at) - span
                before = [r for r in history if r.seq < row.seq and as_utc(r.at) >= start]
                if len(before) < rule.figure("min_history"):
                    continue
                same = sum(1 for r in before if r.purpose == row.purpose)
                if same * 100 < rule.figure("share_percent") * len(before):
                    yield Found(
                        rule, f"seq:{row.seq}", row.seq, 1, "institution", ref,
                        bytes(row.subject_bidx) if row.subject_bidx is not None else None,
                        detail={"purpose": row.purpose, "same_purpose": same,
                                "queries": len(before), "consent_id": row.consent_jti},
                    )  # fmt: skip

    def _volume(self, rule: ReviewRule, batch: Sequence[AnyRow]) -> Iterable[Found]:
        days = rule.figure("baseline_days")
        wanted = _allowed(INSTITUTION_QUERY)
        for ref, rows in _institution_queries(batch).items():
            first_day = min(local(row.at).date() for row in rows) - timedelta(days=days)
            since = datetime.combine(first_day, datetime.min.time(), ZONE)
            history = [r for r in self._history("actor_ref", ref, since, rows[-1].seq) if wanted(r)]
            for row in rows:
                day = local(row.at).date()
                before = [r for r in history if r.seq <= row.seq]
                count = sum(1 for r in before if local(r.at).date() == day)
                median = _median_per_day(before, day, days)
                threshold = rule.figure("multiple") * max(median, rule.figure("min_baseline"))
                if count >= threshold:
                    yield Found(
                        rule, f"{ref}:{day.isoformat()}", row.seq, count, "institution", ref,
                        detail={"day": day.isoformat(), "queries": count, "median": median,
                                "threshold": threshold},
                    )  # fmt: skip


def _institution_queries(batch: Sequence[AnyRow]) -> dict[str, list[AnyRow]]:
    """The batch's allowed institution queries, by institution (client id)."""
    groups: dict[str, list[AnyRow]] = defaultdict(list)
    for row in batch:
        if _allowed(INSTITUTION_QUERY)(row) and row.actor_kind == "institution":
            groups[row.actor_ref].append(row)
    return groups


def _median_per_day(rows: Sequence[AnyRow], day: date, days: int) -> float:
    """The median of the daily counts over the `days` days before `day` (empty days are 0)."""
    counts = dict.fromkeys((day - timedelta(days=n) for n in range(1, days + 1)), 0)
    for row in rows:
        seen = local(row.at).date()
        if seen in counts:
            counts[seen] += 1
    return float(statistics.median(counts.values()))
