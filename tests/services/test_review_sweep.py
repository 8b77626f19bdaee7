"""The review rules (policies/data/review.toml), each run by the sweep over a hand-made log, and
the sweep itself: incremental, idempotent, the same in one batch or many. SQLite and PostgreSQL.

The logs are written through the log's own append path with chosen times (service time is
Asia/Shanghai: 2026-12-07 is a Monday, 2026-12-12 a Saturday).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import delete, select

from app.container import container
from app.models import (
    Consent,
    ReviewCase,
    ReviewCaseEvent,
    ReviewFlag,
    ReviewSweep,
    StaffRelation,
)
from app.services.querylog.log import QueryAttempt
from app.services.review.sweep import Sweep
from policies.review_rules import (
    ReviewRules,
    ReviewRulesError,
    load_review_rules,
    parse_review_rules,
)
from tests.consent_helpers import ingest_subjects, subject_id_of

ZONE = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=ZONE)
NOW = datetime(2026, 12, 20, tzinfo=UTC)


def _bidx(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _append(app: Flask, at: datetime, **fields: Any) -> int:
    parts = container(app)
    values: dict[str, Any] = {
        "action": "institution:report:query",
        "decision": "allowed",
        "reason": "hand_made",
        "actor_kind": "institution",
        "actor_ref": "bank-a",
        "request_id": str(uuid.uuid4()),
        "client_address": "127.0.0.1",
        "at": at,
        **fields,
    }
    with parts.unit() as db:
        return parts.query_log().append(db, QueryAttempt(**values)).seq


def _rules(body: str) -> ReviewRules:
    return parse_review_rules("schema = 1\n" + body, source="test")


def _rule(rule_id: str, kind: str, **figures: Any) -> str:
    lines = [
        "[[rule]]",
        f'id = "{rule_id}"',
        f'kind = "{kind}"',
        'severity = "high"',
        'title = "t"',
        'title_zh = "t"',
    ]
    for name, value in figures.items():
        lines.append(f"{name} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


def _sweep(app: Flask, rules: ReviewRules, **options: Any) -> Any:
    return Sweep(container(app), rules=rules).sweep(now=NOW, **options)


def _flags(app: Flask) -> list[tuple[str, str, int, int, int]]:
    with container(app).unit() as db:
        flags = db.scalars(select(ReviewFlag).order_by(ReviewFlag.rule_id, ReviewFlag.key))
        return [(f.rule_id, f.key, f.first_seq, f.last_seq, f.count) for f in flags]


# --- the rules, one by one -----------------------------------------------------------------------


def test_a_burst_of_denials_within_the_window_is_flagged_once_per_actor_and_hour(
    app: Flask,
) -> None:
    rules = _rules(_rule("burst", "denial_burst", denials=5, minutes=60))
    denied = {"decision": "denied", "actor_kind": "subject", "action": "public:list:search"}
    for n in range(4):
        _append(app, MONDAY + timedelta(minutes=n), actor_ref="guesser", **denied)
    for n in range(5):  # five denials, but spread over five hours
        _append(app, MONDAY + timedelta(hours=n), actor_ref="patient", **denied)
    assert _sweep(app, rules).raised == 0
    fifth = _append(app, MONDAY + timedelta(minutes=10), actor_ref="guesser", **denied)
    sixth = _append(app, MONDAY + timedelta(minutes=20), actor_ref="guesser", **denied)
    done = _sweep(app, rules)
    assert (done.read, done.raised) == (2, 1)
    assert _flags(app) == [("burst", "subject:guesser:2026-12-07T10", fifth, sixth, 6)]


def test_many_identity_searches_by_one_searcher_are_flagged(app: Flask) -> None:
    rules = _rules(_rule("ids", "identity_searches", subjects=4, hours=24))
    search = {"action": "public:list:search", "actor_kind": "subject"}
    for n in range(10):  # the same person ten times: not a pattern
        _append(app, MONDAY + timedelta(minutes=n), actor_ref="curious",
                subject_bidx=_bidx("one"), **search)  # fmt: skip
    for n in range(3):
        _append(app, MONDAY + timedelta(hours=n), actor_ref="trawler",
                subject_bidx=_bidx(f"p{n}"), **search)  # fmt: skip
    _append(
        app, MONDAY + timedelta(hours=30), actor_ref="trawler", subject_bidx=_bidx("p3"), **search
    )  # fmt: skip  (a day later: window moved on)
    assert _sweep(app, rules).raised == 0
    fourth = _append(app, MONDAY + timedelta(hours=31), actor_ref="trawler",
                     subject_bidx=_bidx("p4"), **search)  # fmt: skip
    _append(app, MONDAY + timedelta(hours=32), actor_ref="trawler", **search)  # by name
    assert _sweep(app, rules).raised == 0  # p1, p2 fell out of the 24 hours: p3, p4 only
    for n in range(5, 7):
        last = _append(app, MONDAY + timedelta(hours=33 + n), actor_ref="trawler",
                       subject_bidx=_bidx(f"p{n}"), **search)  # fmt: skip
    assert _sweep(app, rules).raised == 1
    ((rule, key, first, final, count),) = _flags(app)
    assert (rule, key, final, count) == ("ids", "subject:trawler:2026-12-09", last, 4)
    assert first > fourth


def test_a_subject_queried_by_many_institutions_within_days_is_flagged(app: Flask) -> None:
    rules = _rules(_rule("many", "subject_many_institutions", institutions=3, days=7))
    target, other = _bidx("target"), _bidx("other")
    _append(app, MONDAY, actor_ref="bank-a", subject_bidx=other)
    _append(app, MONDAY + timedelta(days=8), actor_ref="bank-b", subject_bidx=other)
    _append(app, MONDAY + timedelta(days=16), actor_ref="bank-c", subject_bidx=other)
    _append(app, MONDAY, actor_ref="bank-a", subject_bidx=target)
    _append(app, MONDAY + timedelta(days=1), actor_ref="bank-a", subject_bidx=target)
    _append(
        app, MONDAY + timedelta(days=2), actor_ref="bank-b", subject_bidx=target, decision="denied"
    )  # fmt: skip  (refused: not a query of the subject)
    third = _append(app, MONDAY + timedelta(days=3), actor_ref="bank-c", subject_bidx=target)
    assert _sweep(app, rules).raised == 0
    fourth = _append(app, MONDAY + timedelta(days=4), actor_ref="bank-d", subject_bidx=target)
    assert _sweep(app, rules).raised == 1
    assert third < fourth
    assert _flags(app) == [("many", f"{target.hex()}:2026-12-11", fourth, fourth, 3)]


def test_queries_outside_business_hours_or_on_days_off_are_flagged(app: Flask) -> None:
    rules = _rules(
        _rule("late", "off_hours", start_hour=8, end_hour=20, actor_kinds=["institution"])
    )
    _append(app, MONDAY)  # 10:00 on a Monday
    night = _append(app, MONDAY.replace(hour=23))
    early = _append(app, MONDAY.replace(hour=7, minute=59))
    saturday = _append(app, MONDAY + timedelta(days=5))  # 10:00 on a Saturday
    _append(
        app,
        MONDAY.replace(hour=23),
        actor_kind="subject",
        actor_ref="owl",
        action="self:report:read",
    )  # fmt: skip  (subjects read their own at night)
    _append(app, MONDAY.replace(hour=23), action="institution:identity:read")  # not a query
    assert _sweep(app, rules).raised == 3
    assert sorted(seq for _, _, seq, _, _ in _flags(app)) == sorted([night, early, saturday])


def test_a_consent_used_on_its_last_day_is_flagged(app: Flask) -> None:
    rules = _rules(_rule("edge", "consent_last_day"))
    (synthetic,) = ingest_subjects(app, 1)
    subject_id = subject_id_of(app, synthetic.id_number)
    expires = datetime(2026, 12, 10, 12, 0, tzinfo=ZONE)
    with container(app).unit() as db:
        db.add(
            Consent(
                jti="consent-at-the-edge-1", token_sha256=_bidx("t"), subject_id=subject_id,
                client_id="bank-a", purpose="loan_approval", scope="A,B",
                issued_at=expires - timedelta(days=30), expires_at=expires, max_uses=5, uses=2,
                card_thumbprint="0" * 64, registered_at=expires - timedelta(days=30),
            )
        )  # fmt: skip
    early = {"consent_jti": "consent-at-the-edge-1", "purpose": "loan_approval"}
    _append(app, datetime(2026, 12, 9, 9, 0, tzinfo=ZONE), **early)
    last = _append(app, datetime(2026, 12, 10, 9, 0, tzinfo=ZONE), **early)
    _append(app, datetime(2026, 12, 10, 9, 0, tzinfo=ZONE), purpose="loan_approval")  # no consent
    assert _sweep(app, rules).raised == 1
    assert _flags(app) == [("edge", f"seq:{last}", last, last, 1)]


def test_a_day_far_above_the_institutions_own_median_is_flagged(app: Flask) -> None:
    rules = _rules(
        _rule("volume", "volume_above_baseline", multiple=3, baseline_days=5, min_baseline=2)
    )
    for day in range(5):  # three a day: the median is 3, the threshold 9
        for n in range(3):
            _append(app, MONDAY + timedelta(days=day, minutes=n))
    for n in range(8):  # small bank: under min_baseline x multiple = 6, nothing
        _append(app, MONDAY + timedelta(days=5, minutes=n), actor_ref="bank-small")
    busy = MONDAY + timedelta(days=5)
    for n in range(8):
        _append(app, busy + timedelta(minutes=n))
    assert [rule for rule, *_ in _flags(app)] == []
    assert _sweep(app, rules).raised == 1  # bank-small: 8 >= 6 with no history at all
    ninth = _append(app, busy + timedelta(minutes=9))
    tenth = _append(app, busy + timedelta(minutes=10))
    assert _sweep(app, rules).raised == 1
    flags = {key: (first, last, count) for _, key, first, last, count in _flags(app)}
    assert flags["bank-a:2026-12-12"] == (ninth, tenth, 10)
    assert flags["bank-small:2026-12-12"][2] == 8


def test_a_consent_for_a_purpose_the_institution_rarely_uses_is_flagged(app: Flask) -> None:
    rules = _rules(
        _rule("rare", "consent_rare_purpose", share_percent=10, history_days=30, min_history=10)
    )
    loans = {"purpose": "loan_approval", "consent_jti": "consent-for-a-loan-01"}
    jobs = {"purpose": "employment_screening", "consent_jti": "consent-for-a-job-001"}
    _append(app, MONDAY, **jobs)  # the first ever: too little history to judge
    for n in range(9):
        _append(app, MONDAY + timedelta(hours=n + 1), **loans)
    second = _append(app, MONDAY + timedelta(hours=11), **jobs)  # 1 of 10 before: 10 %
    for n in range(10):
        _append(app, MONDAY + timedelta(days=1, hours=n), **loans)
    rare = _append(app, MONDAY + timedelta(days=2), **jobs)  # 2 of 21: under 10 %
    _append(app, MONDAY + timedelta(days=2, hours=1), **loans)  # the usual one
    _append(app, MONDAY + timedelta(days=2, hours=2), purpose="employment_screening")  # no consent
    _append(app, MONDAY + timedelta(days=40), **jobs)  # the history fell out of the window
    assert _sweep(app, rules).raised == 1
    assert second < rare
    assert _flags(app) == [("rare", f"seq:{rare}", rare, rare, 1)]


# --- the sweep -----------------------------------------------------------------------------------


def test_the_sweep_is_incremental_idempotent_and_the_same_in_batches(app: Flask) -> None:
    rules = load_review_rules()
    denied = {"decision": "denied", "actor_kind": "subject", "actor_ref": "guesser",
              "action": "archive:order:create"}  # fmt: skip
    for n in range(12):
        _append(app, MONDAY + timedelta(minutes=n), **denied)
    night = MONDAY.replace(hour=2)
    for bank in ("bank-a", "bank-b", "bank-c"):
        _append(app, night, actor_ref=bank, subject_bidx=_bidx("target"))
    first = _sweep(app, rules)
    assert (first.read, first.raised) == (15, 5)  # a burst, 3 off-hours, many institutions
    again = _sweep(app, rules)
    assert (again.read, again.raised, again.updated) == (0, 0, 0)
    flags = _flags(app)
    whole = _sweep(app, rules, from_start=True)
    assert (whole.read, whole.raised, whole.updated) == (15, 0, 0)
    assert _flags(app) == flags
    with container(app).unit() as db:  # every new flag opened one case
        assert len(db.scalars(select(ReviewCase.flag_id)).all()) == len(flags)
        db.execute(delete(ReviewCaseEvent))
        db.execute(delete(ReviewCase))
        db.execute(delete(ReviewFlag))
        db.execute(delete(ReviewSweep))
    in_threes = _sweep(app, rules, batch=3)
    assert (in_threes.read, in_threes.raised) == (15, 5)
    assert _flags(app) == flags
    assert {rule for rule, *_ in flags} == {
        "denial-burst", "off-hours", "subject-many-institutions",
    }  # fmt: skip


def test_flask_review_sweep_prints_what_it_did(app: Flask) -> None:
    _append(app, MONDAY.replace(hour=23))
    runner = app.test_cli_runner()
    done = runner.invoke(args=["review", "sweep"])
    assert done.exit_code == 0, done.output
    assert "read 1 entries up to 1: 1 new flag(s), 0 updated" in done.output
    assert "read 0 entries" in runner.invoke(args=["review", "sweep"]).output


# --- the data ------------------------------------------------------------------------------------


def test_the_packaged_rules_are_valid_and_name_their_figures() -> None:
    rules = load_review_rules()
    assert {rule.kind for rule in rules.rules} == {
        "denial_burst", "identity_searches", "subject_many_institutions", "off_hours",
        "consent_last_day", "volume_above_baseline", "consent_rare_purpose",
        "conflict_of_interest",
    }  # fmt: skip
    burst = rules.by_id("denial-burst")
    assert burst is not None
    assert (burst.figure("denials"), burst.figure("minutes")) == (10, 60)
    assert len(rules.version) == 64


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_rule("x", "no_such_kind"), "kind must be one of"),
        (_rule("x", "denial_burst", denials=5), "missing key 'minutes'"),
        (_rule("x", "denial_burst", denials=0, minutes=5), "positive whole numbers"),
        (_rule("x", "denial_burst", denials=5, minutes=5, extra=1), "unknown key 'extra'"),
        (_rule("Bad_Id", "consent_last_day"), "kebab-case"),
        (_rule("x", "consent_last_day") + _rule("x", "consent_last_day"), "unique"),
        (_rule("x", "off_hours", start_hour=20, end_hour=8, actor_kinds=["institution"]),
         "business hours"),
        (_rule("x", "off_hours", start_hour=8, end_hour=20, actor_kinds=["robot"]),
         "actor_kinds"),
    ],
)  # fmt: skip
def test_invalid_rules_are_refused_naming_the_rule(body: str, problem: str) -> None:
    with pytest.raises(ReviewRulesError, match=problem) as refused:
        _rules(body)
    assert "test: rule" in str(refused.value)


def test_the_version_ignores_order_and_follows_meaning() -> None:
    one, two = _rule("a", "consent_last_day"), _rule("b", "denial_burst", denials=3, minutes=9)
    assert _rules(one + two).version == _rules(two + one).version
    assert (
        _rules(one + two).version != _rules(one + two.replace("denials = 3", "denials = 4")).version
    )


# --- officers read the flags ---------------------------------------------------------------------


def test_officers_read_the_flags_a_page_at_a_time_and_each_reading_is_logged(app: Flask) -> None:
    from tests.web.review_helpers import log_rows, officer

    for bank in ("bank-a", "bank-b", "bank-c"):
        _append(app, MONDAY.replace(hour=2), actor_ref=bank, subject_bidx=_bidx("target"))
    assert _sweep(app, load_review_rules()).raised == 4
    wu = officer(app)
    everything = wu.client.get("/api/v1/review/flags")
    assert everything.status_code == 200, everything.get_json()
    flags = everything.get_json()["flags"]
    assert len(flags) == 4
    many = [flag for flag in flags if flag["rule_id"] == "subject-many-institutions"]
    assert many[0]["subject_bidx"] == _bidx("target").hex()
    assert many[0]["detail"] == {"institutions": 3, "day": "2026-12-07"}
    assert many[0]["title_zh"] == "同一主体短期内被多家机构查询"
    high = wu.client.get("/api/v1/review/flags?severity=high").get_json()["flags"]
    assert [flag["rule_id"] for flag in high] == ["subject-many-institutions"]
    low = wu.client.get("/api/v1/review/flags?rule=off-hours").get_json()["flags"]
    assert len(low) == 3
    first = wu.client.get("/api/v1/review/flags?limit=3").get_json()
    rest = wu.client.get(f"/api/v1/review/flags?limit=3&cursor={first['next_cursor']}").get_json()
    ids = [flag["id"] for flag in first["flags"] + rest["flags"]]
    assert sorted(ids) == sorted(flag["id"] for flag in flags)
    assert rest["next_cursor"] is None
    for query in ("severity=urgent", "rule=no-such-rule", "cursor=nope", "limit=0"):
        assert wu.client.get(f"/api/v1/review/flags?{query}").status_code == 400, query
    page = wu.client.get("/review/flags").get_data(as_text=True)
    assert page.count('class="flag ') == 4
    reads = [row for row in log_rows(app) if row.action == "compliance:flag:read"]
    assert [row.decision for row in reads] == ["allowed"] * 5 + ["denied"] * 4 + ["allowed"]
    from tests.logins import make_account

    make_account(app, "officer.cli", kind="staff", roles=("compliance",))
    listed = app.test_cli_runner().invoke(
        args=["review", "flags", "--officer", "officer.cli", "--severity", "high"]
    )
    assert listed.exit_code == 0, listed.output
    assert "subject-many-institutions" in listed.output


# --- conflict of interest ------------------------------------------------------------------------


def _declare(app: Flask, username: str, number: str, relation: str = "self") -> Any:
    return app.test_cli_runner().invoke(
        args=["accounts", "declare-relation", "--username", username, "--relation", relation],
        input=number + "\n",
    )


def test_a_staff_member_acting_on_themselves_or_their_household_is_flagged(app: Flask) -> None:
    from tests.logins import make_account
    from tests.services.report_helpers import citizen_id

    rules = _rules(_rule("coi", "conflict_of_interest"))
    clerk = make_account(app, "clerk.lin", kind="staff", roles=("registrar",))
    other = make_account(app, "clerk.wang", kind="staff", roles=("registrar",))
    own, spouse, stranger = citizen_id(301), citizen_id(302), citizen_id(303)
    declared = _declare(app, "clerk.lin", own)
    assert declared.exit_code == 0, declared.output
    assert own not in declared.output
    assert _declare(app, "clerk.lin", spouse, "spouse").exit_code == 0
    assert "already declared" in _declare(app, "clerk.lin", spouse, "spouse").output
    assert _declare(app, "clerk.lin", stranger, "self").exit_code == 1  # one own number
    assert _declare(app, "nobody", own).exit_code == 1
    assert _declare(app, "clerk.lin", "440524188001010015", "child").exit_code == 1

    parts = container(app)

    def bidx(number: str) -> bytes:
        from crypto.blind_index import BlindIndexKind, blind_index

        return blind_index(parts.key_provider, BlindIndexKind.CITIZEN_ID, number)

    enrol = {"actor_kind": "staff", "action": "registry:subject:enrol"}
    on_self = _append(app, MONDAY, actor_ref=str(clerk.id), subject_bidx=bidx(own), **enrol)
    on_spouse = _append(
        app, MONDAY, actor_ref=str(clerk.id), subject_bidx=bidx(spouse), decision="denied", **enrol
    )  # fmt: skip  (trying counts too)
    _append(app, MONDAY, actor_ref=str(clerk.id), subject_bidx=bidx(stranger), **enrol)
    _append(app, MONDAY, actor_ref=str(other.id), subject_bidx=bidx(own), **enrol)
    _append(app, MONDAY, actor_kind="subject", actor_ref=str(clerk.id),
            subject_bidx=bidx(own), action="self:report:read")  # fmt: skip
    assert _sweep(app, rules).raised == 2
    with container(app).unit() as db:
        flags = {f.first_seq: json.loads(f.detail) for f in db.scalars(select(ReviewFlag))}
    assert flags == {
        on_self: {"relation": "self", "action": "registry:subject:enrol"},
        on_spouse: {"relation": "spouse", "action": "registry:subject:enrol"},
    }
    with container(app).unit() as db:
        stored = db.scalars(select(StaffRelation)).all()
    assert {row.relation for row in stored} == {"self", "spouse"}
    assert all(own not in repr(row.__dict__) for row in stored)


def test_a_registrar_enrolling_their_own_number_is_flagged_by_the_sweep(app: Flask) -> None:
    from tests.logins import logged_in, make_account
    from tests.services.report_helpers import citizen_id

    registrar = make_account(app, "reg.zhou", kind="staff", roles=("registrar",))
    number = citizen_id(311)
    assert _declare(app, "reg.zhou", number).exit_code == 0
    client, csrf = logged_in(app, registrar, frozenset({"password", "totp", "card"}))
    enrolled = client.post(
        "/api/v1/registry/subjects",
        json={"id_number": number, "name": "周一", "username": "zhou.yi",
              "password": "a long enough initial password 7"},
        headers={"X-CSRF-Token": csrf},
    )  # fmt: skip
    assert enrolled.status_code == 201, enrolled.get_json()
    done = Sweep(container(app)).sweep(now=NOW)
    assert done.raised >= 1
    with container(app).unit() as db:
        (flag,) = db.scalars(select(ReviewFlag).where(ReviewFlag.rule_id == "conflict-of-interest"))
    assert (flag.actor_ref, flag.severity) == (str(registrar.id), "high")
    assert json.loads(flag.detail)["relation"] == "self"
