"""A subject's inbox (`self:inbox:read`): what happened about them that they should know of,
newest first, gathered from where it is recorded.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a subject logged in with password and card, about themselves; one query-log entry per
  attempt;
- the messages are: the answers to their objections (`objection_outcome`), the prior notices
  of negative records furnished about them (`prior_notice`, Art. 15), their removals from the
  red or black list (`list_removal`), and each use of one of their consents by an institution
  (`consent_use`: the allowed institution reports under it, from the query log), and the
  decisions on their credit repair applications (`repair_decision`);
- a message's text names only what the subject's own pages show: a record's kind, a provider's
  or institution's name, a purpose, dates and outcomes — never a record's contents, what the
  subject or a registrar wrote, a token or an ID number;
- at most `limit` (200) messages: the newest of each kind, merged by time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Consent,
    DataProvider,
    Institution,
    ListPublication,
    Objection,
    ObjectionAnswer,
    PriorNotice,
    QueryLogEntry,
    RepairApplication,
)
from app.models.base import as_utc
from app.services.outcomes import Answer, Answered, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, run_logged
from app.services.rights.common import RightsParts, own_subject, titles
from policies.actions import Action
from policies.decision import Target
from policies.list_rules import default_list_rules

LIMIT = 200
OUTCOMES = {
    "corrected": ("已更正", "corrected"),
    "deleted": ("已删除", "deleted"),
    "upheld": ("维持原记录", "upheld"),
}
CHANNELS = {
    "letter": "信函",
    "registered_mail": "挂号信",
    "sms": "短信",
    "email": "电子邮件",
    "phone": "电话",
    "in_person": "当面",
    "app": "应用通知",
}


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _message(kind: str, at: datetime, ref: str, zh: str, en: str) -> dict[str, Any]:
    return {"kind": kind, "at": as_utc(at).isoformat(), "ref": ref, "text": f"{zh} {en}"}


class Inbox:
    def __init__(self, parts: RightsParts) -> None:
        self.parts = parts

    def read(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.SELF_INBOX_READ, asker, self._read)

    def _read(self, q: LoggedQuery) -> Answer:
        with q.unit() as db:
            subject = own_subject(db, q.asker.subject_id)
            q.subject_bidx = None if subject is None else subject.id_bidx
            decision = q.decide(Target(relation="own" if subject is not None else "none"))
            if not decision.allowed or subject is None:
                q.deny(db)
                return refusal_for(decision)
            messages = (
                self._outcomes(db, subject.id)
                + self._notices(db, subject.id)
                + self._removals(db, subject.id)
                + self._consent_uses(db, subject.id, subject.id_bidx)
                + self._repairs(db, subject.id)
            )
            messages.sort(key=lambda m: (m["at"], m["ref"]), reverse=True)
            q.allow(db)
        return Answered({"messages": messages[:LIMIT], "as_of": q.on.isoformat()})

    def _outcomes(self, db: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = db.execute(
            select(
                Objection.id,
                Objection.record_type,
                ObjectionAnswer.stage,
                ObjectionAnswer.outcome,
                ObjectionAnswer.answered_at,
            )
            .join(ObjectionAnswer, ObjectionAnswer.objection_id == Objection.id)
            .where(Objection.subject_id == subject_id)
            .order_by(ObjectionAnswer.answered_at.desc())
            .limit(LIMIT)
        ).all()
        found = []
        for objection_id, code, stage, outcome, resolved_at in rows:
            named = titles(self.parts.catalog, code)
            zh, en = OUTCOMES.get(outcome, (outcome, outcome))
            day = as_utc(resolved_at).date().isoformat()
            found.append(
                _message(
                    "objection_outcome",
                    resolved_at,
                    f"{objection_id}/{stage}",
                    f"您对“{named['title_zh']}”记录的异议（{stage}）已于 {day} 答复：{zh}。",
                    f"Your objection ({stage}) to a {named['title']} record was answered on "
                    f"{day}: {en}.",
                )
            )
        return found

    def _notices(self, db: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = db.execute(
            select(
                PriorNotice.id,
                PriorNotice.record_type,
                PriorNotice.notified_on,
                PriorNotice.channel,
                DataProvider.name,
            )
            .join(DataProvider, DataProvider.id == PriorNotice.provider_id)
            .where(PriorNotice.subject_id == subject_id)
            .order_by(PriorNotice.notified_on.desc())
            .limit(LIMIT)
        ).all()
        found = []
        for notice_id, code, notified_on, channel, provider in rows:
            named = titles(self.parts.catalog, code)
            day = notified_on.isoformat()
            how = CHANNELS.get(channel, channel)
            found.append(
                _message(
                    "prior_notice",
                    _moment(notified_on),
                    str(notice_id),
                    f"{provider} 于 {day} 经{how}告知：将报送一条不良记录（{named['title_zh']}）。",
                    f"{provider} told you on {day} ({channel}) that it furnishes a negative "
                    f"record ({named['title']}).",
                )
            )
        return found

    def _removals(self, db: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        rules = default_list_rules(self.parts.catalog)
        rows = db.execute(
            select(ListPublication.id, ListPublication.list, ListPublication.removed_at)
            .where(
                ListPublication.subject_id == subject_id,
                ListPublication.removed_at.is_not(None),
            )
            .order_by(ListPublication.removed_at.desc())
            .limit(LIMIT)
        ).all()
        found = []
        named_lists: dict[str, tuple[str, str]] = {str(k): v for k, v in rules.titles.items()}
        for publication_id, code, removed_at in rows:
            if removed_at is None:
                continue
            title, title_zh = named_lists.get(code, (code, code))
            day = as_utc(removed_at).date().isoformat()
            found.append(
                _message(
                    "list_removal",
                    removed_at,
                    str(publication_id),
                    f"您已于 {day} 移出{title_zh}。",
                    f"You were removed from the {title} on {day}.",
                )
            )
        return found

    def _consent_uses(
        self, db: Session, subject_id: uuid.UUID, subject_bidx: bytes
    ) -> list[dict[str, Any]]:
        mine = select(Consent.jti).where(Consent.subject_id == subject_id)
        rows = db.execute(
            select(
                QueryLogEntry.seq,
                QueryLogEntry.at,
                QueryLogEntry.purpose,
                Institution.name,
            )
            .outerjoin(Institution, Institution.client_id == QueryLogEntry.actor_ref)
            .where(
                QueryLogEntry.subject_bidx == subject_bidx,
                QueryLogEntry.action == Action.INSTITUTION_REPORT_QUERY.value,
                QueryLogEntry.decision == "allowed",
                QueryLogEntry.consent_jti.in_(mine),
            )
            .order_by(QueryLogEntry.seq.desc())
            .limit(LIMIT)
        ).all()
        purposes = self.parts.policy.purposes
        found = []
        for seq, at, purpose, institution in rows:
            who = institution or "institution"
            spec = purposes.get(purpose) if purpose else None
            purpose_zh = spec.title_zh if spec is not None else (purpose or "")
            purpose_en = spec.title if spec is not None else (purpose or "")
            day = as_utc(at).date().isoformat()
            found.append(
                _message(
                    "consent_use",
                    at,
                    f"log-{seq}",
                    f"{who} 于 {day} 凭您的授权查询了您的信用报告（用途：{purpose_zh}）。",
                    f"{who} used your consent on {day} to query your report ({purpose_en}).",
                )
            )
        return found

    def _repairs(self, db: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = db.execute(
            select(
                RepairApplication.id,
                RepairApplication.record_type,
                RepairApplication.status,
                RepairApplication.decided_at,
                RepairApplication.hidden_from,
            )
            .where(
                RepairApplication.subject_id == subject_id,
                RepairApplication.decided_at.is_not(None),
            )
            .order_by(RepairApplication.decided_at.desc())
            .limit(LIMIT)
        ).all()
        found = []
        for application_id, code, status, decided_at, hidden_from in rows:
            if decided_at is None:
                continue
            named = titles(self.parts.catalog, code)
            day = as_utc(decided_at).date().isoformat()
            if status == "approved":
                until = "" if hidden_from is None else hidden_from.isoformat()
                zh = f"已批准：该记录自 {until} 起不再展示。"
                en = f"approved: the record is not shown from {until} on."
            else:
                zh, en = (
                    "未批准（理由见信用修复页面）。",
                    "refused (the reason is on the credit repair page).",
                )
            found.append(
                _message(
                    "repair_decision",
                    decided_at,
                    str(application_id),
                    f"您对“{named['title_zh']}”记录的信用修复申请已于 {day} 决定：{zh}",
                    f"Your credit repair application for a {named['title']} record was "
                    f"decided on {day}: {en}",
                )
            )
        return found
