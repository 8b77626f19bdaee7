"""The flags the review sweep raised, for officers (`compliance:flag:read`).

Guarantees (the shape of every logged query): only a compliance officer with password + TOTP
reads them, each reading is one query-log entry; a flag about the officer (their own actions,
or a subject who is them or of their household) is never shown to them; newest first, a keyset
page after `cursor` (a flag id handed out as `next_cursor`), filtered by rule and severity; a
flag names entries by position, the actor by reference and the subject by blind index, and
holds figures only.
Every page also lists the objections still open past their answer day (`overdue_objections`,
ARCHITECTURE §3: answered within 20 days), most overdue first: their id, the record's kind,
the stage, the provider, the days and the subject's blind index — never what anyone wrote.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import DataProvider, Objection, ReviewFlag, Subject
from app.models.base import as_utc
from app.services.outcomes import Answer, Answered, bad_input, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, Parts, run_logged
from app.services.review.case_views import not_about
from app.services.review.filters import BadFilter, parse_limit
from policies.actions import Action
from policies.decision import Target
from policies.review_rules import SEVERITIES, ReviewRules, load_review_rules

NAMES = ("rule", "severity", "cursor", "limit")


def _view(flag: ReviewFlag, rules: ReviewRules) -> dict[str, Any]:
    rule = rules.by_id(flag.rule_id)
    return {
        "id": str(flag.id),
        "rule_id": flag.rule_id,
        "title": None if rule is None else rule.title,
        "title_zh": None if rule is None else rule.title_zh,
        "severity": flag.severity,
        "actor_kind": flag.actor_kind,
        "actor_ref": flag.actor_ref,
        "subject_bidx": None if flag.subject_bidx is None else bytes(flag.subject_bidx).hex(),
        "first_seq": flag.first_seq,
        "last_seq": flag.last_seq,
        "count": flag.count,
        "detail": json.loads(flag.detail),
        "created_at": as_utc(flag.created_at).isoformat(),
        "updated_at": as_utc(flag.updated_at).isoformat(),
    }


#: the overdue objections a page lists at most (the registrars' desk has them all)
OVERDUE_LIMIT = 200


def overdue_objections(db: Session, on: date) -> list[dict[str, Any]]:
    """The open objections whose answer day is before `on`, most overdue first."""
    rows = db.execute(
        select(
            Objection.id,
            Objection.record_type,
            Objection.stage,
            Objection.filed_at,
            Objection.due_on,
            DataProvider.name,
            Subject.id_bidx,
        )
        .join(DataProvider, DataProvider.id == Objection.provider_id)
        .join(Subject, Subject.id == Objection.subject_id)
        .where(Objection.status == "open", Objection.due_on < on)
        .order_by(Objection.due_on, Objection.filed_at)
        .limit(OVERDUE_LIMIT)
    ).all()
    return [
        {
            "id": str(objection_id),
            "record_type": code,
            "stage": stage,
            "filed_on": as_utc(filed_at).date().isoformat(),
            "due_on": due_on.isoformat(),
            "days_overdue": (on - due_on).days,
            "provider": provider,
            "subject_bidx": bytes(bidx).hex(),
        }
        for objection_id, code, stage, filed_at, due_on, provider, bidx in rows
        if due_on is not None
    ]


def overdue_count(parts: Parts, on: date) -> int:
    """How many objections are open past their answer day on `on` (for the sweep's report:
    a count, not a logged reading)."""
    with parts.snapshot() as db:
        found = db.execute(
            select(func.count())
            .select_from(Objection)
            .where(Objection.status == "open", Objection.due_on < on)
        ).scalar_one()
    return int(found)


class FlagList:
    def __init__(self, parts: Parts, rules: ReviewRules | None = None) -> None:
        self.parts = parts
        self.rules = rules if rules is not None else load_review_rules()

    def page(self, asker: Asker, sent: Mapping[str, str | None]) -> Answer:
        return run_logged(
            self.parts, Action.COMPLIANCE_FLAG_READ, asker, lambda q: self._page(q, sent)
        )

    def _parse(
        self, sent: Mapping[str, str | None]
    ) -> tuple[str | None, str | None, uuid.UUID | None, int]:
        rule = sent.get("rule") or None
        if rule is not None and self.rules.by_id(rule) is None:
            raise BadFilter("rule: not a rule of policies/data/review.toml.")
        severity = sent.get("severity") or None
        if severity is not None and severity not in SEVERITIES:
            raise BadFilter(f"severity: one of {', '.join(SEVERITIES)}.")
        raw_cursor = sent.get("cursor") or None
        try:
            cursor = None if raw_cursor is None else uuid.UUID(raw_cursor[:64])
        except ValueError:
            raise BadFilter("cursor: send next_cursor of the previous page.") from None
        return rule, severity, cursor, parse_limit(sent.get("limit") or None)

    def _page(self, q: LoggedQuery, sent: Mapping[str, str | None]) -> Answer:
        decision = q.decide(Target())
        try:
            rule, severity, cursor, limit = self._parse(sent)
            problem = None
        except BadFilter as bad:
            problem = str(bad)
        flags: list[ReviewFlag] = []
        if decision.allowed and problem is None:
            query = select(ReviewFlag).order_by(ReviewFlag.id.desc()).limit(limit + 1)
            if rule is not None:
                query = query.where(ReviewFlag.rule_id == rule)
            if severity is not None:
                query = query.where(ReviewFlag.severity == severity)
            if cursor is not None:
                query = query.where(ReviewFlag.id < cursor)
            with q.unit() as db:
                if q.asker.account_id is not None:  # never a flag about the officer
                    query = query.where(not_about(db, q.asker.account_id, ReviewFlag))
                flags = list(db.scalars(query))
                views = [_view(flag, self.rules) for flag in flags[:limit]]
                more = len(flags) > limit
                document = {
                    "flags": views,
                    "next_cursor": views[-1]["id"] if more else None,
                    "overdue_objections": overdue_objections(db, q.on),
                }
                q.allow(db)
            return Answered(document)
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            q.deny(db, "bad_request")
        return bad_input(problem or "bad request")
