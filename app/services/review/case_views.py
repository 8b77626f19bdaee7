"""Review cases as officers see them, and who may see which (ARCHITECTURE §10).

Guarantees:
- `about_officer` / `visible_to` say whether a case is about an officer: its actor is that
  officer's staff account, or its subject's blind index is one the officer declared as their
  own or their household's (`staff_relations`). Such a case is never listed to that officer,
  never shown and never decided by them;
- a case's view holds references, rule ids, states, dates, the officers' usernames and their
  notes: never an ID number, a name of a subject or a released value;
- `open_flag_cases` opens one case per new flag (a unique constraint on `flag_id`), due
  within the working days of `[cases]` in policies/data/review.toml, in the caller's unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from app.clock import SERVICE_TIME_ZONE
from app.models import Account, Institution, ReviewCase, ReviewCaseEvent, ReviewFlag, StaffRelation
from app.models.base import as_utc
from app.models.ids import uuid7
from policies.calendar import WorkingCalendar
from policies.cases import CaseFacts, is_overdue, outcomes_for, steps_open_to
from policies.review_rules import ReviewRules

_ZONE = ZoneInfo(SERVICE_TIME_ZONE)


def service_day(moment: datetime) -> date:
    return moment.astimezone(_ZONE).date()


def deadline_for(rules: ReviewRules, calendar: WorkingCalendar, opened: datetime) -> date:
    if rules.case_deadline_days is None:
        raise ValueError("policies/data/review.toml has no [cases] deadline_working_days")
    return calendar.working_day_after(service_day(opened), rules.case_deadline_days).day


def open_flag_cases(
    db: Session,
    flags: Iterable[ReviewFlag],
    *,
    now: datetime,
    rules: ReviewRules,
    calendar: WorkingCalendar,
) -> int:
    """Open a case for each of the new `flags` (nothing when the rules have no `[cases]`)."""
    if rules.case_deadline_days is None:
        return 0
    due = deadline_for(rules, calendar, now)
    cases = [
        ReviewCase(
            id=uuid7(),
            kind="flag",
            state="open",
            flag_id=flag.id,
            rule_id=flag.rule_id,
            severity=flag.severity,
            actor_kind=flag.actor_kind,
            actor_ref=flag.actor_ref,
            subject_bidx=flag.subject_bidx,
            opened_at=now,
            deadline=due,
        )
        for flag in flags
    ]
    db.add_all(cases)
    db.flush()
    for case in cases:
        db.add(ReviewCaseEvent(case_id=case.id, at=now, officer_id=None, step="opened",
                               note=f"flag {case.rule_id}"))  # fmt: skip
    db.flush()
    return len(cases)


def relations_of(db: Session, officer: uuid.UUID) -> list[bytes]:
    return [
        bytes(bidx)
        for bidx in db.scalars(
            select(StaffRelation.subject_bidx).where(StaffRelation.account_id == officer)
        )
    ]


def about_officer(db: Session, case: ReviewCase, officer: uuid.UUID) -> bool:
    if case.actor_kind == "staff" and case.actor_ref == str(officer):
        return True
    return case.subject_bidx is not None and bytes(case.subject_bidx) in relations_of(db, officer)


def not_about(
    db: Session, officer: uuid.UUID, table: type[ReviewCase] | type[ReviewFlag]
) -> ColumnElement[bool]:
    """The SQL condition on a case or flag: it is not about `officer` (see `about_officer`)."""
    own = relations_of(db, officer)
    not_actor = or_(
        table.actor_kind.is_(None),
        table.actor_kind != "staff",
        table.actor_ref.is_(None),
        table.actor_ref != str(officer),
    )
    if not own:
        return not_actor
    return and_(not_actor, or_(table.subject_bidx.is_(None), table.subject_bidx.not_in(own)))


def visible_to(db: Session, officer: uuid.UUID) -> ColumnElement[bool]:
    """The cases `officer` may see: those not about them."""
    return not_about(db, officer, ReviewCase)


def facts_of(case: ReviewCase) -> CaseFacts:
    return CaseFacts(
        kind=case.kind,
        state=case.state,
        actor_kind=case.actor_kind,
        reviewer=None if case.reviewer_id is None else str(case.reviewer_id),
        escalated_by=None if case.escalated_by is None else str(case.escalated_by),
    )


def _names(db: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {one for one in ids if one is not None}
    if not wanted:
        return {}
    rows = db.execute(select(Account.id, Account.username).where(Account.id.in_(wanted)))
    return {row.id: row.username for row in rows}


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def summary(case: ReviewCase, rules: ReviewRules, today: date) -> dict[str, Any]:
    rule = None if case.rule_id is None else rules.by_id(case.rule_id)
    return {
        "id": str(case.id),
        "kind": case.kind,
        "state": case.state,
        "rule_id": case.rule_id,
        "title": None if rule is None else rule.title,
        "title_zh": None if rule is None else rule.title_zh,
        "severity": case.severity,
        "actor_kind": case.actor_kind,
        "actor_ref": case.actor_ref,
        "subject_bidx": None if case.subject_bidx is None else bytes(case.subject_bidx).hex(),
        "opened_at": _when(case.opened_at),
        "deadline": case.deadline.isoformat(),
        "overdue": is_overdue(case.state, case.deadline, today),
        "outcome": case.outcome,
    }


def detail(
    db: Session, case: ReviewCase, rules: ReviewRules, today: date, officer: uuid.UUID
) -> dict[str, Any]:
    """The case, its flag, its history and the steps `officer` may take now."""
    events = list(
        db.scalars(
            select(ReviewCaseEvent)
            .where(ReviewCaseEvent.case_id == case.id)
            .order_by(ReviewCaseEvent.at, ReviewCaseEvent.id)
        )
    )
    staff_actor = None
    if case.actor_kind == "staff" and case.actor_ref is not None:
        try:
            staff_actor = uuid.UUID(case.actor_ref)
        except ValueError:
            staff_actor = None
    names = _names(
        db,
        [case.opened_by, case.reviewer_id, case.escalated_by, case.decided_by, staff_actor]
        + [event.officer_id for event in events],
    )

    def who(account: uuid.UUID | None) -> str | None:
        return None if account is None else names.get(account, str(account))

    flag = None if case.flag_id is None else db.get(ReviewFlag, case.flag_id)
    institution: dict[str, Any] | None = None
    actor_name = names.get(staff_actor) if staff_actor is not None else None
    if case.actor_kind == "institution" and case.actor_ref is not None:
        found = db.scalars(
            select(Institution).where(Institution.client_id == case.actor_ref)
        ).one_or_none()
        if found is not None:
            actor_name = found.name
            institution = {
                "client_id": found.client_id,
                "name": found.name,
                "suspended": found.suspended_at is not None,
            }
    facts = facts_of(case)
    return {
        **summary(case, rules, today),
        "actor_name": actor_name,
        "flag": None
        if flag is None
        else {
            "id": str(flag.id),
            "first_seq": flag.first_seq,
            "last_seq": flag.last_seq,
            "count": flag.count,
        },
        "institution": institution,
        "opened_by": who(case.opened_by),
        "reviewer": who(case.reviewer_id),
        "escalated_by": who(case.escalated_by),
        "escalated_at": _when(case.escalated_at),
        "decided_by": who(case.decided_by),
        "decided_at": _when(case.decided_at),
        "reason": case.reason,
        "events": [
            {
                "at": _when(event.at),
                "officer": who(event.officer_id),
                "step": event.step,
                "note": event.note,
            }
            for event in events
        ],
        "steps": list(steps_open_to(facts, str(officer))),
        "outcomes": list(outcomes_for(facts)),
    }
