"""Review cases (ARCHITECTURE §10): officers list and read them, take them into review, note,
clear, escalate and close them, and open a case to lift an institution's suspension.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- only a staff session holding the `compliance` role with password + TOTP is allowed (the
  policy decides first); every listing, reading and step is one query-log entry
  (`compliance:case:read|open|decide`), allowed or denied, naming the case's subject by blind
  index, which the other officers find like any other entry;
- an officer never sees or decides a case about themselves or their household
  (`case_views.about_officer`): it is not listed to them, and reading or deciding it is
  refused (403 `own_case`), logged, and changes nothing;
- the steps follow `policies.cases`: escalating takes an officer other than the reviewer and
  closing an escalated case an officer other than the one who escalated it (four eyes; the
  database's check constraints hold the same rules); a refused step is a clear 4xx naming
  the rule, logged, and changes nothing;
- each step, its note in the case's history, the case's new state, an outcome's effect on an
  institution (suspended: its live tokens revoked at once; lifted) and the step's log entry
  commit in one unit of work, or none of them does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Institution, ReviewCase, ReviewCaseEvent
from app.services.oauth.institutions import InstitutionError, InstitutionService
from app.services.outcomes import (
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.review.case_views import (
    about_officer,
    deadline_for,
    detail,
    facts_of,
    summary,
    visible_to,
)
from app.services.review.filters import BadFilter, parse_limit
from policies.actions import Action
from policies.calendar import WorkingCalendar, default_calendar
from policies.cases import (
    ACTIVE_STATES,
    DONE,
    check_step,
    clean_text,
    holds_id_number,
    next_state,
)
from policies.decision import Target
from policies.review_rules import ReviewRules, load_review_rules

LIST_NAMES = ("state", "overdue", "cursor", "limit")
STATE_FILTERS = ("active", "open", "in_review", "escalated", "cleared", "closed")
NO_CASE = "There is no such case."
OWN_CASE = Refused(
    RefusalKind.FORBIDDEN,
    "own_case",
    "This case is about you or your household: another officer reviews it.",
)
_KINDS = {
    "forbidden": RefusalKind.FORBIDDEN,
    "conflict": RefusalKind.CONFLICT,
    "bad_input": RefusalKind.BAD_INPUT,
}


def case_id_of(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text[:64])
    except ValueError:
        return None


class CaseDesk:
    def __init__(
        self,
        parts: Parts,
        rules: ReviewRules | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.parts = parts
        self.rules = rules if rules is not None else load_review_rules()
        self.calendar = calendar if calendar is not None else default_calendar()

    # --- reading ------------------------------------------------------------------------------

    def page(self, asker: Asker, sent: Mapping[str, str | None]) -> Answer:
        """Cases not about the officer, newest first: `state` (a state, or `active`), `overdue`
        (`true`), `cursor` (a case id handed out as `next_cursor`), `limit`."""
        return run_logged(
            self.parts, Action.COMPLIANCE_CASE_READ, asker, lambda q: self._page(q, sent)
        )

    def _page(self, q: LoggedQuery, sent: Mapping[str, str | None]) -> Answer:
        decision = q.decide(Target())
        try:
            state = sent.get("state") or None
            if state is not None and state not in STATE_FILTERS:
                raise BadFilter(f"state: one of {', '.join(STATE_FILTERS)}.")
            overdue = (sent.get("overdue") or "") in ("true", "1")
            raw = sent.get("cursor") or None
            cursor = None if raw is None else case_id_of(raw)
            if raw is not None and cursor is None:
                raise BadFilter("cursor: send next_cursor of the previous page.")
            limit = parse_limit(sent.get("limit") or None)
            problem = None
        except BadFilter as bad:
            problem = str(bad)
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if problem is not None or q.asker.account_id is None:
                q.deny(db, "bad_request")
                return bad_input(problem or "An officer's session is needed.")
            today = self.parts.clock.today()
            query = select(ReviewCase).where(visible_to(db, q.asker.account_id))
            if state == "active" or overdue:
                query = query.where(ReviewCase.state.in_(ACTIVE_STATES))
            elif state is not None:
                query = query.where(ReviewCase.state == state)
            if overdue:
                query = query.where(ReviewCase.deadline < today)
            if cursor is not None:
                query = query.where(ReviewCase.id < cursor)
            rows = list(db.scalars(query.order_by(ReviewCase.id.desc()).limit(limit + 1)))
            views = [summary(case, self.rules, today) for case in rows[:limit]]
            document = {
                "cases": views,
                "next_cursor": views[-1]["id"] if len(rows) > limit else None,
            }
            q.allow(db)
        return Answered(document)

    def show(self, asker: Asker, case_id: uuid.UUID) -> Answer:
        """One case: its flag, its history, and the steps the officer may take on it now."""
        return run_logged(
            self.parts, Action.COMPLIANCE_CASE_READ, asker, lambda q: self._show(q, case_id)
        )

    def _show(self, q: LoggedQuery, case_id: uuid.UUID) -> Answer:
        decision = q.decide(Target())
        with q.unit() as db:
            case = db.get(ReviewCase, case_id) if decision.allowed else None
            refused = self._refusal(q, db, case, decision.allowed)
            if refused is not None:
                return refused
            assert case is not None
            assert q.asker.account_id is not None
            document = {
                "case": detail(db, case, self.rules, self.parts.clock.today(), q.asker.account_id)
            }
            q.allow(db)
        return Answered(document)

    def _refusal(
        self, q: LoggedQuery, db: Session, case: ReviewCase | None, allowed: bool
    ) -> Refused | None:
        """Deny (and log) unless the policy allowed, the case exists and is not about the
        officer; sets the entry's subject from the case."""
        if not allowed:
            assert q.decision is not None
            q.deny(db)
            return refusal_for(q.decision)
        if case is None or q.asker.account_id is None:
            q.deny(db, "not_found")
            return not_found(NO_CASE)
        q.subject_bidx = None if case.subject_bidx is None else bytes(case.subject_bidx)
        if about_officer(db, case, q.asker.account_id):
            q.deny(db, "own_case")
            return OWN_CASE
        return None

    # --- steps --------------------------------------------------------------------------------

    def step(self, asker: Asker, case_id: uuid.UUID, sent: Body) -> Answer:
        """Take one step on the case: `{"step": "take|note|clear|escalate|close", "note":
        "...", "outcome": "..."}` (`note` is required but for `take`; `outcome` for `close`)."""
        return run_logged(
            self.parts,
            Action.COMPLIANCE_CASE_DECIDE,
            asker,
            lambda q: self._step(q, case_id, sent),
        )

    def _step(self, q: LoggedQuery, case_id: uuid.UUID, sent: Body) -> Answer:
        decision = q.decide(Target())
        fields, problem = _step_fields(sent)
        with q.unit() as db:
            case = None
            if decision.allowed:
                locked = select(ReviewCase).where(ReviewCase.id == case_id).with_for_update()
                case = db.scalars(locked).one_or_none()
            refused = self._refusal(q, db, case, decision.allowed)
            if refused is not None:
                return refused
            assert case is not None
            assert q.asker.account_id is not None
            if problem is not None:
                q.deny(db, problem[0])
                return problem[1]
            step, note, outcome = fields
            officer = q.asker.account_id
            rule = check_step(facts_of(case), step, str(officer), outcome)
            if rule is not None:
                q.deny(db, rule.code)
                return Refused(_KINDS[rule.kind], rule.code, rule.message)
            effect = self._effect(db, case, outcome)
            if isinstance(effect, Refused):
                q.deny(db, effect.error)
                return effect
            now = self.parts.clock.now()
            self._apply(case, step, officer, note, outcome, now)
            db.add(ReviewCaseEvent(case_id=case.id, at=now, officer_id=officer,
                                   step=DONE[step], note=note))  # fmt: skip
            db.flush()
            reason = f"case_{DONE[step]}" + (f"_{outcome}" if step == "close" else "")
            document = {
                "case": detail(db, case, self.rules, self.parts.clock.today(), officer),
                "tokens_revoked": effect,
            }
            q.allow(db, reason=reason)
        return Answered(document)

    def _effect(self, db: Session, case: ReviewCase, outcome: str | None) -> int | Refused:
        """What closing with `outcome` does to the institution (before anything changed)."""
        if outcome not in ("suspend_institution", "lift_suspension"):
            return 0
        institutions = InstitutionService()
        try:
            if outcome == "suspend_institution":
                return institutions.suspend(
                    db, case.actor_ref or "", case.id, self.parts.clock.now()
                )
            institutions.lift_suspension(db, case.actor_ref or "")
            return 0
        except InstitutionError as refused:
            return Refused(RefusalKind.CONFLICT, "institution_state", f"{refused}.")

    @staticmethod
    def _apply(
        case: ReviewCase,
        step: str,
        officer: uuid.UUID,
        note: str,
        outcome: str | None,
        now: datetime,
    ) -> None:
        case.state = next_state(case.state, step)
        if step == "take":
            case.reviewer_id = officer
        elif step == "escalate":
            case.escalated_by, case.escalated_at, case.reason = officer, now, note
        elif step in ("clear", "close"):
            case.decided_by, case.decided_at, case.reason = officer, now, note
            case.outcome = "cleared" if step == "clear" else outcome

    # --- opening a case to lift a suspension --------------------------------------------------

    def open_lift(self, asker: Asker, sent: Body) -> Answer:
        """`{"institution": "<client id>", "note": "why"}`: open a case to lift the
        institution's suspension; it is lifted only when the case is escalated and closed
        with the outcome `lift_suspension` (four eyes)."""
        return run_logged(
            self.parts, Action.COMPLIANCE_CASE_OPEN, asker, lambda q: self._open_lift(q, sent)
        )

    def _open_lift(self, q: LoggedQuery, sent: Body) -> Answer:
        decision = q.decide(Target())
        value = sent.value if isinstance(sent.value, dict) else {}
        client_id = value.get("institution")
        note = clean_text(value.get("note"))
        if note is not None and holds_id_number(note):
            note = None  # refused like a missing note: the number is kept nowhere
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if sent.problem is not None:
                q.deny(db, sent.problem)
                return body_refusal(sent.problem, sent.why)
            if not isinstance(client_id, str) or note is None or q.asker.account_id is None:
                q.deny(db, "bad_request")
                return bad_input('Send {"institution": "<client id>", "note": "<why>"}.')
            institution = db.scalars(
                select(Institution).where(Institution.client_id == client_id.strip()[:64])
            ).one_or_none()
            if institution is None:
                q.deny(db, "not_found")
                return not_found("There is no such institution.")
            if institution.suspended_at is None:
                q.deny(db, "not_suspended")
                return Refused(RefusalKind.CONFLICT, "not_suspended",
                               "This institution is not suspended.")  # fmt: skip
            pending = db.scalar(
                select(ReviewCase.id).where(
                    ReviewCase.kind == "lift_suspension",
                    ReviewCase.institution_id == institution.id,
                    ReviewCase.state.in_(ACTIVE_STATES),
                )
            )
            if pending is not None:
                q.deny(db, "case_pending")
                return Refused(RefusalKind.CONFLICT, "case_pending",
                               "A case to lift this suspension is open already.",
                               {"case_id": str(pending)})  # fmt: skip
            now = self.parts.clock.now()
            case = ReviewCase(
                kind="lift_suspension", state="open", rule_id=None, severity="medium",
                actor_kind="institution", actor_ref=institution.client_id,
                institution_id=institution.id, opened_at=now, opened_by=q.asker.account_id,
                deadline=deadline_for(self.rules, self.calendar, now),
            )  # fmt: skip
            db.add(case)
            db.flush()
            db.add(ReviewCaseEvent(case_id=case.id, at=now, officer_id=q.asker.account_id,
                                   step="opened", note=note))  # fmt: skip
            db.flush()
            document = {
                "case": detail(db, case, self.rules, self.parts.clock.today(),
                               q.asker.account_id)
            }  # fmt: skip
            q.allow(db, reason="case_opened")
        return Answered(document, created=True)


def _step_fields(sent: Body) -> tuple[tuple[str, str, str | None], tuple[str, Refused] | None]:
    empty = ("", "", None)
    if sent.problem is not None:
        return empty, (sent.problem, body_refusal(sent.problem, sent.why))
    value = sent.value
    if not isinstance(value, dict) or not isinstance(value.get("step"), str):
        return empty, ("bad_request", bad_input('Send {"step": "...", "note": "..."}.'))
    step = value["step"]
    raw_note = value.get("note")
    note = "" if step == "take" and raw_note in (None, "") else clean_text(raw_note)
    if note is None:
        return empty, (
            "bad_request",
            bad_input("note: 1 to 1000 characters saying why (required but to take a case)."),
        )
    if holds_id_number(note):
        return empty, (
            "id_number_in_note",
            bad_input("note: write no ID number; the case names the subject by blind index."),
        )
    outcome = value.get("outcome")
    if outcome is not None and not isinstance(outcome, str):
        return empty, ("bad_request", bad_input("outcome is a string."))
    return (step, note, outcome), None
