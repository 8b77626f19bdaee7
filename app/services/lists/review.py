"""Red and black lists: rules propose changes, a compliance officer reviews each one, and only
approved changes are published (双公示 confidentiality review).

Guarantees:
- `derive` compares who the rules (policies/data/lists.toml) put on each list today with what
  is published and pending, and proposes only the differences: a listing for someone newly
  eligible, a removal for someone no longer eligible (decided on the day the basis stopped:
  withdrawn, corrected away or past its display, else today), due within the rules' working
  days on the working-day calendar; a pending listing no longer justified is withdrawn. It
  reads plain columns, the counted grades the lists take as a reason (`subject_grades`: an A
  or an E only after its second approval), and opens only good-record payloads (their
  non-sensitive fields); `subject_id` narrows it to one subject (a grade just approved);
- nothing is published without review: `review` approves or rejects one pending change; an
  approved listing must pass the confidentiality check (every published field declared, of a
  public-class record type, not redacted by the public mask) at the moment of approval; an
  approved removal stops the listing showing at once; every review is one query-log entry
  (`compliance:list:review`, the subject's blind index), the officer named by account id;
- `overdue` names every removal whose listing still shows after its due day;
- officers see references, rules, record types, field names and masks: never a name, an ID
  number or a record's values. Nothing here commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import LargeBinary, Table, select, true, type_coerce, update
from sqlalchemy.orm import Session

from app.models import ListChange, ListPublication, Record, Subject, SubjectGrade
from app.models.base import as_utc
from app.services.lists.public_lists import name_index
from app.services.querylog.log import QueryAttempt, QueryLog
from crypto.envelope import Envelope
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.calendar import WorkingCalendar, default_calendar
from policies.catalog import Catalog
from policies.list_rules import (
    Fact,
    Listing,
    ListRules,
    confidentiality_check,
    default_list_rules,
    listed_on,
)

_RECORDS = cast(Table, Record.__table__)


class ReviewRefused(Exception):
    """A review was refused; `code` says why (safe to show)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Officer:
    account_id: uuid.UUID
    request_id: str
    client_address: str


@dataclass
class DeriveResult:
    subjects: int = 0
    proposed_add: int = 0
    proposed_remove: int = 0
    withdrawn: int = 0


@dataclass
class ListReview:
    catalog: Catalog
    rules: ListRules
    calendar: WorkingCalendar
    cipher: FieldCipher
    provider: KeyProvider
    log: QueryLog

    # --- deriving ---------------------------------------------------------------------------

    def derive(
        self, db: Session, *, on: date, now: datetime, subject_id: uuid.UUID | None = None
    ) -> DeriveResult:
        result = DeriveResult()
        published = select(ListPublication).where(ListPublication.removed_at.is_(None))
        waiting = select(ListChange).where(ListChange.status == "pending")
        graded = select(SubjectGrade.subject_id, SubjectGrade.counted_grade).where(
            SubjectGrade.counted_grade.in_(sorted(self.rules.listing_grades))
        )
        if subject_id is not None:
            published = published.where(ListPublication.subject_id == subject_id)
            waiting = waiting.where(ListChange.subject_id == subject_id)
            graded = graded.where(SubjectGrade.subject_id == subject_id)
        active = {(p.subject_id, p.list): p for p in db.scalars(published)}
        pending: dict[tuple[uuid.UUID, str, str], ListChange] = {
            (c.subject_id, c.list, c.change): c for c in db.scalars(waiting)
        }
        grades: dict[uuid.UUID, str | None] = {sid: grade for sid, grade in db.execute(graded)}
        seen: set[uuid.UUID] = set()
        for sid, facts in self._facts(db, subject_id, grades):
            seen.add(sid)
            result.subjects += 1
            wanted: dict[str, Listing] = {
                listing.list: listing
                for listing in listed_on(self.rules, facts, on, grades.get(sid))
            }
            self._compare(db, sid, wanted, active, pending, on, now, result)
        for (listed_id, code), publication in active.items():  # nothing justifies it now
            if listed_id not in seen and (listed_id, code, "remove") not in pending:
                self._propose_remove(db, publication, on, now)
                result.proposed_remove += 1
        db.flush()
        return result

    def _compare(
        self,
        db: Session,
        subject_id: uuid.UUID,
        wanted: dict[str, Listing],
        active: dict[tuple[uuid.UUID, str], ListPublication],
        pending: dict[tuple[uuid.UUID, str, str], ListChange],
        on: date,
        now: datetime,
        result: DeriveResult,
    ) -> None:
        for code in ("black", "red"):
            listing = wanted.get(code)
            published = active.get((subject_id, code))
            waiting_add = pending.get((subject_id, code, "add"))
            waiting_remove = pending.get((subject_id, code, "remove"))
            if listing is not None and published is None and waiting_add is None:
                self._propose_add(db, subject_id, listing, on, now)
                result.proposed_add += 1
            elif listing is None and waiting_add is not None:
                waiting_add.status = "withdrawn"
                result.withdrawn += 1
            if listing is None and published is not None and waiting_remove is None:
                self._propose_remove(db, published, on, now)
                result.proposed_remove += 1

    def _facts(
        self,
        db: Session,
        subject_id: uuid.UUID | None = None,
        graded: Mapping[uuid.UUID, object] | None = None,
    ) -> Iterator[tuple[uuid.UUID, list[Fact]]]:
        """Each subject with a record the rules look at, and those records, subject by subject;
        then each subject in `graded` that has none (no facts: its grade alone may list it)."""
        seen: set[uuid.UUID] = set()
        for found, facts in self._record_facts(db, subject_id):
            seen.add(found)
            yield found, facts
        for found in graded or {}:
            if found not in seen:
                yield found, []

    def _record_facts(
        self, db: Session, subject_id: uuid.UUID | None
    ) -> Iterator[tuple[uuid.UUID, list[Fact]]]:
        black_types = sorted({rule.record_type for rule in self.rules.black})
        good_types = sorted(self.rules.good_types)
        rows = db.execute(
            select(
                _RECORDS.c.subject_id,
                _RECORDS.c.id,
                _RECORDS.c.record_type,
                _RECORDS.c.is_negative,
                _RECORDS.c.occurred_on,
                _RECORDS.c.display_until,
                type_coerce(_RECORDS.c.payload, LargeBinary),
            )
            .where(
                _RECORDS.c.status == "current",
                _RECORDS.c.is_negative
                | _RECORDS.c.record_type.in_(black_types)
                | _RECORDS.c.record_type.in_(good_types),
            )
            .where(true() if subject_id is None else _RECORDS.c.subject_id == subject_id)
            .order_by(_RECORDS.c.subject_id)
        )
        wanted_fields = {g.record_type: g.field for g in self.rules.good}
        current: uuid.UUID | None = None
        facts: list[Fact] = []
        for subject_id, record_id, code, negative, occurred, shown, sealed in rows:
            if subject_id != current:
                if current is not None:
                    yield current, facts
                current, facts = subject_id, []
            plain: dict[str, object] = {}
            if code in wanted_fields:  # open the payload only for a good record's plain field
                payload = self.cipher.open_json(
                    Record.context_for(record_id, "payload"), Envelope.from_bytes(sealed)
                )
                plain = {wanted_fields[code]: payload.get(wanted_fields[code])}
            facts.append(Fact(str(record_id), code, bool(negative), occurred, shown, plain))
        if current is not None:
            yield current, facts

    def _propose_add(
        self, db: Session, subject_id: uuid.UUID, listing: Listing, on: date, now: datetime
    ) -> None:
        passed, checks = confidentiality_check(self.rules, self.catalog, listing.rule_id)
        db.add(
            ListChange(
                list=listing.list,
                subject_id=subject_id,
                change="add",
                rule_id=listing.rule_id,
                basis=",".join(listing.basis),
                proposed_at=now,
                decided_on=on,
                due_by=None,
                due_provisional=False,
                status="pending",
                check_passed=passed,
                check_detail=json.dumps([_check(c) for c in checks]),
            )
        )

    def _propose_remove(
        self, db: Session, publication: ListPublication, on: date, now: datetime
    ) -> None:
        decided = self._stopped_on(db, publication, on)
        due = self.calendar.working_day_after(decided, self.rules.removal_working_days)
        db.add(
            ListChange(
                list=publication.list,
                subject_id=publication.subject_id,
                change="remove",
                rule_id=publication.rule_id,
                basis=publication.basis,
                proposed_at=now,
                decided_on=decided,
                due_by=due.day,
                due_provisional=due.provisional,
                status="pending",
                check_passed=True,  # a removal publishes nothing
                check_detail="[]",
            )
        )

    @staticmethod
    def _stopped_on(db: Session, publication: ListPublication, on: date) -> date:
        """The day the listing's basis stopped: withdrawn or corrected, or past its display."""
        ids = [uuid.UUID(ref) for ref in publication.basis.split(",") if ref]
        days: list[date] = []
        for status, changed_at, shown in db.execute(
            select(Record.status, Record.status_changed_at, Record.display_until).where(
                Record.id.in_(ids)
            )
        ):
            if status != "current" and changed_at is not None:
                days.append(as_utc(changed_at).date())
            elif shown is not None and shown < on:
                days.append(shown + timedelta(days=1))
        if publication.list == "black" and days:
            return min(max(days), on)
        return on

    # --- reviewing ------------------------------------------------------------------------

    def review(
        self,
        db: Session,
        change_id: uuid.UUID,
        officer: Officer,
        *,
        approve: bool,
        note: str,
        now: datetime,
        on: date,
    ) -> ListChange:
        change = db.get(ListChange, change_id, with_for_update=True)
        if change is None:
            raise ReviewRefused("not_found", "There is no such change.")
        if change.status != "pending":
            raise ReviewRefused("not_pending", "This change was reviewed already.")
        bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == change.subject_id))
        if approve and change.change == "add":
            passed, checks = confidentiality_check(self.rules, self.catalog, change.rule_id)
            change.check_passed = passed
            change.check_detail = json.dumps([_check(c) for c in checks])
            if not passed:  # the caller records the refusal (`refusal`) in a unit of its own
                raise ReviewRefused(
                    "confidentiality_check_failed",
                    "A published field is not public by the catalog's masks; it cannot be "
                    "published (see the check).",
                )
            self._publish(db, change, bidx, on, now)
        elif approve:
            db.execute(
                update(ListPublication)
                .where(
                    ListPublication.subject_id == change.subject_id,
                    ListPublication.list == change.list,
                    ListPublication.removed_at.is_(None),
                )
                .values(removed_at=now, removed_by_change=change.id)
            )
        change.status = "approved" if approve else "rejected"
        change.reviewed_by = officer.account_id
        change.reviewed_at = now
        change.review_note = note[:200] or None
        db.flush()
        self._log(db, officer, bidx, "allowed", "approved" if approve else "rejected", now)
        return change

    def refusal(
        self, db: Session, change_id: uuid.UUID, officer: Officer, *, now: datetime
    ) -> None:
        """Log an approval refused by the confidentiality check (its own unit of work)."""
        subject_id = db.scalar(select(ListChange.subject_id).where(ListChange.id == change_id))
        bidx = db.scalar(select(Subject.id_bidx).where(Subject.id == subject_id))
        self._log(db, officer, bidx, "denied", "confidentiality_check_failed", now)

    def _publish(
        self, db: Session, change: ListChange, bidx: bytes | None, on: date, now: datetime
    ) -> None:
        subject = db.get(Subject, change.subject_id)
        assert subject is not None
        assert bidx is not None
        identity = subject.unseal("identity", self.cipher)
        db.add(
            ListPublication(
                list=change.list,
                subject_id=change.subject_id,
                rule_id=change.rule_id,
                basis=change.basis,
                listed_on=on,
                published_at=now,
                added_by_change=change.id,
                name_bidx=name_index(self.provider, str(identity.get("name", ""))),
                id_bidx=bidx,
            )
        )

    def _log(
        self,
        db: Session,
        officer: Officer,
        bidx: bytes | None,
        decision: str,
        reason: str,
        now: datetime,
    ) -> None:
        self.log.append(
            db,
            QueryAttempt(
                action=Action.COMPLIANCE_LIST_REVIEW.value,
                decision=decision,
                reason=reason,
                actor_kind="staff",
                actor_ref=str(officer.account_id),
                request_id=officer.request_id,
                client_address=officer.client_address,
                subject_bidx=bidx,
                at=now,
            ),
        )

    # --- what officers see ------------------------------------------------------------------

    def changes(self, db: Session, *, status: str = "pending", on: date) -> list[dict[str, Any]]:
        rows = db.scalars(
            select(ListChange)
            .where(ListChange.status == status)
            .order_by(ListChange.proposed_at, ListChange.id)
            .limit(500)
        )
        return [self.view(change, on) for change in rows]

    def overdue(self, db: Session, *, on: date) -> list[dict[str, Any]]:
        """Removals past their due day whose listing still shows."""
        rows = db.scalars(
            select(ListChange)
            .where(ListChange.change == "remove", ListChange.due_by < on)
            .where(ListChange.status.in_(("pending", "approved")))
            .order_by(ListChange.due_by)
        )
        late: list[dict[str, Any]] = []
        for change in rows:
            showing = db.scalar(
                select(ListPublication.id).where(
                    ListPublication.subject_id == change.subject_id,
                    ListPublication.list == change.list,
                    ListPublication.removed_at.is_(None),
                )
            )
            if showing is not None:
                late.append(self.view(change, on))
        return late

    def view(self, change: ListChange, on: date) -> dict[str, Any]:
        title, title_zh = self.rules.titles["black" if change.list == "black" else "red"]
        basis_types = sorted({self._type_of_rule(change.rule_id)} - {""})
        return {
            "id": str(change.id),
            "list": change.list,
            "list_title": title,
            "list_title_zh": title_zh,
            "change": change.change,
            "rule_id": change.rule_id,
            "subject_ref": str(change.subject_id),
            "basis_records": len([ref for ref in change.basis.split(",") if ref]),
            "basis_types": basis_types,
            "proposed_at": as_utc(change.proposed_at).isoformat(),
            "decided_on": change.decided_on.isoformat(),
            "due_by": None if change.due_by is None else change.due_by.isoformat(),
            "due_provisional": change.due_provisional,
            "overdue": change.due_by is not None and on > change.due_by,
            "status": change.status,
            "check_passed": change.check_passed,
            "check": json.loads(change.check_detail),
            "reviewed_at": None
            if change.reviewed_at is None
            else as_utc(change.reviewed_at).isoformat(),
            "review_note": change.review_note,
        }

    def _type_of_rule(self, rule_id: str) -> str:
        rule = self.rules.black_rule(rule_id)
        return "" if rule is None else rule.record_type


def _check(check: Any) -> dict[str, Any]:
    return {
        "record_type": check.record_type,
        "field": check.field,
        "public_mask": check.public_mask,
        "passed": check.passed,
        "reason": check.reason,
    }


def list_review(
    catalog: Catalog, cipher: FieldCipher, provider: KeyProvider, log: QueryLog
) -> ListReview:
    """The review over the packaged list rules and working-day calendar."""
    return ListReview(
        catalog, default_list_rules(catalog), default_calendar(), cipher, provider, log
    )
