"""Review cases (issue 16 item 4): a flag opens a case; officers take it into review, note,
clear, or escalate and close it with a second officer (four eyes); an officer never sees or
decides a case about themselves; an outcome suspends an institution (its tokens stop at once,
new ones are refused) and lifting the suspension is a case of its own. Every case action is a
query-log entry the other officers find. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from app.container import container
from app.models import QueryLogEntry, ReviewCase, ReviewCaseEvent, ReviewFlag
from app.services.review.case_views import open_flag_cases
from app.services.review.sweep import Sweep
from policies.calendar import default_calendar
from policies.identifiers import make_citizen_id
from policies.review_rules import load_review_rules
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.web.oauth_helpers import (
    claims_for,
    ec_key,
    get_token,
    post_token,
    register,
    sign,
    whoami,
)
from tests.web.review_helpers import STAFF, Officer, officer

CASES = "/api/v1/review/cases"


def _step(who: Officer, case_id: str, step: str, **fields: str) -> Any:
    return who.client.post(
        f"{CASES}/{case_id}/steps", json={"step": step, **fields}, headers=who.headers
    )


def _denials(app: Flask, username: str, count: int = 10) -> str:
    """A cashier calls a compliance route `count` times (each a logged 403); returns the
    cashier's account id."""
    account = make_account(app, username, kind="staff", roles=("cashier",))
    client, csrf = logged_in(app, account, STAFF)
    for _ in range(count):
        refused = client.post("/api/v1/review/log/search", json={}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
    return str(account.id)


def _entries(app: Flask, action: str) -> list[QueryLogEntry]:
    with container(app).unit() as db:
        return list(
            db.scalars(
                select(QueryLogEntry)
                .where(QueryLogEntry.action == action)
                .order_by(QueryLogEntry.seq)
            )
        )


def _flag_case(app: Flask, **about: Any) -> str:
    """A hand-made flag about `about` (actor or subject), and the case it opens."""
    parts = container(app)
    now = parts.clock.now()
    with parts.unit() as db:
        flag = ReviewFlag(rule_id="denial-burst", key=json.dumps(about, default=str),
                          severity="high", first_seq=1, last_seq=1, count=10, detail="{}",
                          created_at=now, updated_at=now, **about)  # fmt: skip
        db.add(flag)
        db.flush()
        open_flag_cases(db, [flag], now=now, rules=load_review_rules(),
                        calendar=default_calendar())  # fmt: skip
        return str(db.scalars(select(ReviewCase.id).where(ReviewCase.flag_id == flag.id)).one())


def test_a_flag_opens_a_case_that_two_officers_escalate_and_close(app: Flask) -> None:
    cashier = _denials(app, "cashier.qian")
    swept = Sweep(container(app)).sweep(now=container(app).clock.now())
    assert swept.raised >= 1
    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")

    listed = wu.client.get(f"{CASES}?state=open").get_json()
    (case,) = [c for c in listed["cases"] if c["rule_id"] == "denial-burst"]
    assert (case["actor_kind"], case["actor_ref"], case["state"]) == ("staff", cashier, "open")
    due = default_calendar().working_day_after(container(app).clock.today(), 10).day
    assert case["deadline"] == due.isoformat()
    assert case["overdue"] is False
    cid = case["id"]

    taken = _step(wu, cid, "take")
    assert taken.status_code == 200, taken.get_json()
    assert taken.get_json()["case"]["reviewer"] == "officer.wu"
    assert _step(wu, cid, "note", note="ten refused searches in a minute").status_code == 200

    # escalating alone: refused, logged, nothing changed
    alone = _step(wu, cid, "escalate", note="looks like probing")
    assert alone.status_code == 403
    assert alone.get_json()["error"] == "four_eyes_escalation"
    assert "second officer" in alone.get_json()["message"]
    shown = wu.client.get(f"{CASES}/{cid}").get_json()["case"]
    assert shown["state"] == "in_review"
    assert "escalate" not in shown["steps"]

    escalated = _step(lin, cid, "escalate", note="agreed: probing the log")
    assert escalated.status_code == 200, escalated.get_json()
    assert escalated.get_json()["case"]["state"] == "escalated"
    # closing alone (the officer who escalated): refused
    closing_alone = _step(lin, cid, "close", note="done", outcome="no_action")
    assert (closing_alone.status_code, closing_alone.get_json()["error"]) == (
        403,
        "four_eyes_closing",
    )
    closed = _step(wu, cid, "close", note="cashier retrained", outcome="no_action")
    assert closed.status_code == 200, closed.get_json()
    final = closed.get_json()["case"]
    assert (final["state"], final["outcome"], final["decided_by"]) == (
        "closed",
        "no_action",
        "officer.wu",
    )
    assert [e["step"] for e in final["events"]] == [
        "opened", "taken", "noted", "escalated", "closed",
    ]  # fmt: skip

    # every case action is an entry, found by the other officer
    decided = _entries(app, "compliance:case:decide")
    assert [(e.decision, e.reason) for e in decided] == [
        ("allowed", "case_taken"),
        ("allowed", "case_noted"),
        ("denied", "four_eyes_escalation"),
        ("allowed", "case_escalated"),
        ("denied", "four_eyes_closing"),
        ("allowed", "case_closed_no_action"),
    ]
    found = lin.search(action="compliance:case:decide", actor=wu.account_id).get_json()
    assert {e["reason"] for e in found["entries"]} >= {"case_taken", "four_eyes_escalation"}


def test_the_database_holds_the_four_eyes_rules(app: Flask) -> None:
    wu = officer(app, "officer.wu")
    cid = _flag_case(app, actor_kind="staff", actor_ref="someone")
    assert _step(wu, cid, "take").status_code == 200
    parts = container(app)
    with pytest.raises(Exception, match=r"(?i)check|constraint"), parts.unit() as db:
        db.execute(
            update(ReviewCase)
            .where(ReviewCase.id == ReviewCase.id)
            .values(state="escalated", escalated_by=ReviewCase.reviewer_id)
        )
    with pytest.raises(Exception, match=r"(?i)check|constraint"), parts.unit() as db:
        db.execute(update(ReviewCase).values(state="closed", decided_by=ReviewCase.reviewer_id))
    with parts.unit() as db:
        assert db.scalars(select(ReviewCase.state)).one() == "in_review"


def test_an_officer_never_sees_or_decides_a_case_about_themselves(app: Flask) -> None:
    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")
    own = _flag_case(app, actor_kind="staff", actor_ref=wu.account_id)
    listed = wu.client.get(CASES).get_json()["cases"]
    assert own not in [c["id"] for c in listed]
    assert own in [c["id"] for c in lin.client.get(CASES).get_json()["cases"]]
    seen = wu.client.get(f"{CASES}/{own}")
    assert (seen.status_code, seen.get_json()["error"]) == (403, "own_case")
    decided = _step(wu, own, "take")
    assert (decided.status_code, decided.get_json()["error"]) == (403, "own_case")
    with container(app).unit() as db:
        case = db.get(ReviewCase, __import__("uuid").UUID(own))
        assert case is not None
        assert (case.state, case.reviewer_id) == ("open", None)
        assert db.scalar(select(ReviewCaseEvent.id).where(ReviewCaseEvent.step == "taken")) is None
    refusals = [e for e in _entries(app, "compliance:case:decide") if e.reason == "own_case"]
    assert [(e.decision, e.actor_ref) for e in refusals] == [("denied", wu.account_id)]


def test_a_case_about_an_officers_household_is_hidden_from_them(app: Flask) -> None:
    from app.services.review.relations import declare

    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")
    parts = container(app)
    from tests.services.report_helpers import citizen_id

    number = citizen_id(31)
    with parts.unit() as db:
        declare(db, parts.key_provider, username="officer.wu", id_number=number,
                relation="spouse", now=parts.clock.now())  # fmt: skip
    from crypto.blind_index import BlindIndexKind, blind_index

    bidx = blind_index(parts.key_provider, BlindIndexKind.CITIZEN_ID, number)
    cid = _flag_case(app, actor_kind="institution", actor_ref="inst-x", subject_bidx=bidx)
    assert cid not in [c["id"] for c in wu.client.get(CASES).get_json()["cases"]]
    assert wu.client.get(f"{CASES}/{cid}").status_code == 403
    assert lin.client.get(f"{CASES}/{cid}").status_code == 200


def test_a_case_suspends_an_institution_and_another_lifts_it(app: Flask) -> None:
    key = ec_key()
    bank = register(app, key)
    institution = app.test_client()
    token = get_token(institution, key, bank)
    assert whoami(institution, token).status_code == 200
    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")
    cid = _flag_case(app, actor_kind="institution", actor_ref=bank)
    assert wu.client.get(f"{CASES}/{cid}").get_json()["case"]["outcomes"] == [
        "no_action",
        "suspend_institution",
    ]
    assert _step(wu, cid, "take").status_code == 200
    assert _step(lin, cid, "escalate", note="queries far above its baseline").status_code == 200
    closed = _step(wu, cid, "close", note="blacklisted", outcome="suspend_institution")
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["tokens_revoked"] == 1

    # its token stops at once; a new one is refused
    assert whoami(institution, token).status_code == 401
    refused = post_token(institution, sign(key, claims_for(bank)))
    assert refused.status_code == 401

    # lifting is a case of its own, with four eyes
    opened = wu.client.post(
        CASES, json={"institution": bank, "note": "remediation done"}, headers=wu.headers
    )
    assert opened.status_code == 201, opened.get_json()
    lift = opened.get_json()["case"]["id"]
    again = lin.client.post(CASES, json={"institution": bank, "note": "x"}, headers=lin.headers)
    assert (again.status_code, again.get_json()["error"]) == (409, "case_pending")
    assert _step(lin, lift, "take").status_code == 200
    assert _step(wu, lift, "escalate", note="agree").status_code == 200
    assert _step(wu, lift, "close", note="x", outcome="lift_suspension").status_code == 403
    assert post_token(institution, sign(key, claims_for(bank))).status_code == 401
    lifted = _step(lin, lift, "close", note="lifted", outcome="lift_suspension")
    assert lifted.status_code == 200, lifted.get_json()
    assert whoami(institution, get_token(institution, key, bank)).status_code == 200
    suspended = lin.search(
        action="compliance:case:decide", reason="case_closed_suspend_institution"
    )
    assert [e["actor_ref"] for e in suspended.get_json()["entries"]] == [wu.account_id]
    opens = _entries(app, "compliance:case:open")
    assert [(e.decision, e.reason) for e in opens] == [
        ("allowed", "case_opened"),
        ("denied", "case_pending"),
    ]


def test_a_case_past_its_working_day_deadline_is_overdue(app: Flask, clock: MovableClock) -> None:
    wu = officer(app, "officer.wu")
    clock.move_to_day(date(2026, 9, 30))  # the National Day holidays follow
    cid = _flag_case(app, actor_kind="staff", actor_ref="someone")
    case = wu.client.get(f"{CASES}/{cid}").get_json()["case"]
    due = date.fromisoformat(case["deadline"])
    assert due == default_calendar().working_day_after(date(2026, 9, 30), 10).day
    assert due > date(2026, 10, 14)  # the holidays are not working days
    assert case["overdue"] is False
    clock.move_to_day(due + timedelta(days=1))
    assert wu.client.get(f"{CASES}/{cid}").get_json()["case"]["overdue"] is True
    overdue = wu.client.get(f"{CASES}?overdue=true").get_json()["cases"]
    assert [c["id"] for c in overdue] == [cid]


@pytest.mark.parametrize("kind", ["subject", "institution", "cashier"])
def test_others_calling_a_case_route_are_refused_and_logged(
    app: Flask, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    cid = _flag_case(app, actor_kind="staff", actor_ref="someone")
    if kind == "institution":
        key = ec_key()
        bank = register(app, key)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {get_token(client, key, bank)}"}
        with caplog.at_level(logging.WARNING, logger="creditgate.security"):
            answer = client.get(CASES, headers=headers)
        assert answer.status_code == 401  # a token is no officer's session: the gate refuses
        events = [r.message for r in caplog.records if r.name == "creditgate.security"]
        assert events == ["authn.required: no_session"]
        with container(app).unit() as db:
            assert db.scalars(select(ReviewCase.state)).one() == "open"
        return
    roles = ("cashier",) if kind == "cashier" else ()
    account_kind = "staff" if kind == "cashier" else "subject"
    account = make_account(app, f"{kind}.one", kind=account_kind, roles=roles)
    methods = STAFF if kind == "cashier" else frozenset({"password", "card"})
    client, csrf = logged_in(app, account, methods)
    assert client.get(CASES).status_code == 403
    stepped = client.post(f"{CASES}/{cid}/steps", json={"step": "take"},
                          headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert stepped.status_code == 403
    entries = _entries(app, "compliance:case:read") + _entries(app, "compliance:case:decide")
    assert [(e.decision, e.actor_ref) for e in entries] == [("denied", str(account.id))] * 2
    with container(app).unit() as db:
        assert db.scalars(select(ReviewCase.state)).one() == "open"


def test_bad_steps_are_refused_with_a_reason(app: Flask) -> None:
    wu = officer(app, "officer.wu")
    cid = _flag_case(app, actor_kind="staff", actor_ref="someone")
    assert _step(wu, cid, "clear", note="x").get_json()["error"] == "wrong_state"
    assert _step(wu, cid, "fly").status_code == 400
    assert _step(wu, cid, "note").status_code == 400  # a note says something
    number = make_citizen_id("500103", date(1984, 6, 2), 17)
    held = _step(wu, cid, "note", note=f"the subject is {number}")
    assert held.status_code == 400
    assert number not in held.get_data(as_text=True)
    with container(app).unit() as db:
        assert all(number not in event.note for event in db.scalars(select(ReviewCaseEvent)))
    assert _entries(app, "compliance:case:decide")[-1].reason == "id_number_in_note"
    assert _step(wu, cid, "take").status_code == 200
    assert _step(wu, cid, "take").status_code == 409
    missing = wu.client.get(f"{CASES}/018f0000-0000-7000-8000-000000000000")
    assert missing.status_code == 404
    cleared = _step(wu, cid, "clear", note="a test run of the cashier desk")
    assert cleared.get_json()["case"]["outcome"] == "cleared"


def test_flask_review_case_list_show_and_step(app: Flask) -> None:
    officer(app, "officer.wu")
    officer(app, "officer.lin")
    cid = _flag_case(app, actor_kind="staff", actor_ref="someone")
    runner = app.test_cli_runner()

    def run(*args: str) -> Any:
        done = runner.invoke(args=["review", "case", *args])
        return done.exit_code, done.output

    code, listed = run("list", "--officer", "officer.wu", "--state", "open")
    assert code == 0, listed
    assert [c["id"] for c in json.loads(listed)["cases"]] == [cid]
    assert run("step", cid, "take", "--officer", "officer.wu")[0] == 0
    code, alone = run("step", cid, "escalate", "--officer", "officer.wu", "--note", "x")
    assert code == 1
    assert "four_eyes_escalation" in alone
    assert run("step", cid, "escalate", "--officer", "officer.lin", "--note", "agreed")[0] == 0
    code, closed = run("step", cid, "close", "--officer", "officer.wu", "--note", "ok",
                       "--outcome", "no_action")  # fmt: skip
    assert code == 0, closed
    code, shown = run("show", cid, "--officer", "officer.lin")
    assert json.loads(shown)["case"]["state"] == "closed"
    assert run("show", "not-a-case", "--officer", "officer.lin")[0] == 2
    entries = _entries(app, "compliance:case:decide")
    assert [e.client_address for e in entries] == ["cli"] * 4


def test_flags_about_an_officer_are_hidden_and_every_flag_gets_a_case(app: Flask) -> None:
    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")
    parts = container(app)
    now = parts.clock.now()
    with parts.unit() as db:  # a flag from before cases existed: no case yet
        db.add(ReviewFlag(rule_id="denial-burst", key="old", severity="high",
                          actor_kind="staff", actor_ref=wu.account_id, first_seq=1,
                          last_seq=1, count=10, detail="{}", created_at=now,
                          updated_at=now))  # fmt: skip
    assert wu.client.get("/api/v1/review/flags").get_json()["flags"] == []
    (seen,) = lin.client.get("/api/v1/review/flags").get_json()["flags"]
    assert seen["actor_ref"] == wu.account_id
    Sweep(parts).sweep(now=now)
    (case,) = lin.client.get(CASES).get_json()["cases"]
    assert (case["rule_id"], case["actor_ref"]) == ("denial-burst", wu.account_id)
    assert wu.client.get(CASES).get_json()["cases"] == []


def test_officers_closing_one_case_at_once_close_it_once(app: Flask) -> None:
    from collections.abc import Callable

    from tests.races import race

    key = ec_key()
    bank = register(app, key)
    wu, lin = officer(app, "officer.wu"), officer(app, "officer.lin")
    cid = _flag_case(app, actor_kind="institution", actor_ref=bank)
    assert _step(wu, cid, "take").status_code == 200
    assert _step(lin, cid, "escalate", note="far above its baseline").status_code == 200
    closers = [officer(app, f"officer.{n}") for n in ("an", "bo", "chen", "du")]

    def prepare(n: int) -> Callable[[], tuple[int, str | None]]:
        def close() -> tuple[int, str | None]:
            answer = _step(closers[n], cid, "close", note="blacklisted",
                           outcome="suspend_institution")  # fmt: skip
            return answer.status_code, answer.get_json().get("error")

        return close

    results = sorted(race(len(closers), prepare), key=lambda r: r[0])
    assert results == [(200, None)] + [(409, "wrong_state")] * 3
    with container(app).unit() as db:
        closed = db.scalars(select(ReviewCaseEvent).where(ReviewCaseEvent.step == "closed"))
        assert len(list(closed)) == 1
