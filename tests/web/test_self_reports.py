"""The own credit report and query records over HTTP: who gets it, the free allowance, paid
orders, bad input, and the query log (one entry per attempt, fail closed)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app.container import container
from app.migrate import upgrade
from app.models import LogCheckpoint, Order, QueryLogEntry, ReportAllowance
from app.services.querylog.log import QueryLog
from app.services.querylog.verify import verify_log
from crypto.keys import KeyProvider, SigningKey
from tests.clocks import MovableClock
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.fakes import InMemoryKeyProvider
from tests.logins import make_account
from tests.services.report_helpers import Person, citizen_id, dishonest, loan, overdue, penalty
from tests.web.self_helpers import (
    CARD,
    client_for,
    entries,
    refuse_log_entries,
    subject_account,
)

TODAY = date(2026, 11, 21)
REPORTS = "/api/v1/self/reports"
RECORDS = "/api/v1/self/query-records"
ACTION = "self:report:read"
NAME = "王建国"
ID_NUMBER = citizen_id(77)


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> Any:
    person = Person(
        ID_NUMBER,
        NAME,
        (
            loan(date(2019, 1, 1)),
            overdue(date(2023, 3, 1), date(2023, 6, 1)),
            penalty(date(2026, 5, 1), serious=False),
            dishonest(date(2025, 1, 10), None),
        ),
    )
    account, _ = subject_account(app, person, today=TODAY)
    return account


def _ask(app: Flask, account: Any, body: Any = None, methods: frozenset[str] = CARD) -> Any:
    client, headers = client_for(app, account, methods)
    if body is None:
        return client.post(REPORTS, headers=headers)
    return client.post(REPORTS, json=body, headers=headers)


def test_a_card_holder_gets_the_whole_own_report_logged_once(app: Flask, holder: Any) -> None:
    response = _ask(app, holder)
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Request-Id"]
    report = response.get_json()
    assert report["subject"] == {"id_number": ID_NUMBER, "name": NAME}
    assert [r["type"] for r in report["sections"]["financial"]] == ["B.loan", "B.overdue"]
    assert report["sections"]["financial"][0]["fields"]["balance_fen"] == 61_234_500
    assert report["report"]["kind"] == "self"
    assert report["report"]["fee_fen"] == 0
    [entry] = entries(app, ACTION)
    assert entry.decision == "allowed"
    assert entry.actor_ref == str(holder.id)
    assert entry.request_id == response.headers["X-Request-Id"]
    assert entry.subject_bidx is not None
    assert "B.loan.balance_fen" in entry.fields_released.split(",")
    stored = json.dumps([str(v) for v in vars(entry).values()], ensure_ascii=False)
    assert NAME not in stored
    assert ID_NUMBER not in stored
    assert "61234500" not in stored


def test_two_free_reports_a_year_then_a_fee_order_then_the_paid_report(
    app: Flask, holder: Any
) -> None:
    assert _ask(app, holder).status_code == 200
    assert _ask(app, holder, {}).status_code == 200
    third = _ask(app, holder)
    assert third.status_code == 402
    order_id = third.get_json()["order_id"]
    with container(app).sessions() as db:
        order = db.get(Order, uuid.UUID(order_id))
        assert order is not None
        assert (order.kind, order.status, order.fee_fen) == ("self_report", "pending", 1000)
    unpaid = _ask(app, holder, {"order_id": order_id})
    assert unpaid.status_code == 402
    assert unpaid.get_json()["order_id"] == order_id
    with container(app).unit() as db:
        db.execute(update(Order).where(Order.id == uuid.UUID(order_id)).values(status="paid"))
    paid = _ask(app, holder, {"order_id": order_id})
    assert paid.status_code == 200
    assert paid.get_json()["report"]["fee_fen"] == 1000
    assert paid.get_json()["subject"]["name"] == NAME
    again = _ask(app, holder, {"order_id": order_id})
    assert again.status_code == 404
    logged = [(e.decision, e.reason, e.fee_fen) for e in entries(app, ACTION)]
    assert logged == [
        ("allowed", "subject_own_data", 0),
        ("allowed", "subject_own_data", 0),
        ("denied", "payment_required", 0),
        ("denied", "order_not_paid", 0),
        ("allowed", "subject_own_data", 1000),
        ("denied", "order_not_redeemable", 0),
    ]


def test_a_new_year_brings_two_new_free_reports(
    app: Flask, holder: Any, clock: MovableClock
) -> None:
    for _ in range(2):
        assert _ask(app, holder).status_code == 200
    assert _ask(app, holder).status_code == 402
    clock.move_to_day(date(2027, 1, 1))
    assert _ask(app, holder).status_code == 200


def test_someone_elses_paid_order_looks_like_no_order(app: Flask, holder: Any) -> None:
    other, _ = subject_account(app, Person(citizen_id(78), "赵敏"), today=TODAY)
    with container(app).unit() as db:
        for year in (TODAY.year,):
            db.add(ReportAllowance(account_id=other.id, year=year, used=2))
    order_id = _ask(app, other).get_json()["order_id"]
    with container(app).unit() as db:
        db.execute(update(Order).where(Order.id == uuid.UUID(order_id)).values(status="paid"))
    stolen = _ask(app, holder, {"order_id": order_id})
    assert stolen.status_code == 404
    assert stolen.get_json() == {"error": "not_found", "message": "Not found."}
    assert _ask(app, other, {"order_id": order_id}).status_code == 200


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"{not json", 400, "malformed_body"),
        (b"[1, 2]", 400, "bad_request"),
        (b'{"order_id": "x", "extra": 1}', 400, "bad_request"),
        (b'{"order_id": "not-an-order"}', 400, "bad_request"),
        (b'{"order_id": 12}', 400, "bad_request"),
        (b'{"name": "' + b"a" * 70_000 + b'"}', 413, "body_too_large"),
    ],
)
def test_bad_input_is_refused_logged_and_costs_no_free_report(
    app: Flask, holder: Any, raw: bytes, status: int, reason: str
) -> None:
    client, headers = client_for(app, holder)
    response = client.post(
        REPORTS, data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert response.get_json()["error"] in {"bad_request", "request_entity_too_large"}
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.reason) == ("denied", reason)
    assert _ask(app, holder).status_code == 200
    assert _ask(app, holder).status_code == 200


def test_a_password_only_session_is_asked_to_step_up_and_logged(app: Flask, holder: Any) -> None:
    response = _ask(app, holder, methods=frozenset({"password"}))
    assert response.status_code == 403
    assert response.get_json()["error"] == "step_up_required"
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.reason) == ("denied", "step_up_required")


@pytest.mark.parametrize("kind", ["staff", "institution"])
def test_staff_and_institution_accounts_are_refused_and_logged(app: Flask, kind: str) -> None:
    account = make_account(app, f"{kind}-{uuid.uuid4().hex[:6]}", kind=kind)
    methods = frozenset({"password", "totp", "card"}) if kind == "staff" else CARD
    response = _ask(app, account, methods=methods)
    assert response.status_code == 403
    assert "sections" not in response.get_json()
    [entry] = entries(app, ACTION)
    assert entry.decision == "denied"
    assert entry.actor_kind == kind
    assert entry.subject_bidx is None


def test_an_institution_bearer_token_does_not_reach_the_own_report(app: Flask) -> None:
    response = app.test_client().post(REPORTS, headers={"Authorization": "Bearer abc"})
    assert response.status_code == 401


def test_an_account_without_a_subject_gets_not_found(app: Flask) -> None:
    account = make_account(app, f"nobody-{uuid.uuid4().hex[:6]}")
    response = _ask(app, account)
    assert response.status_code == 404
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.reason) == ("denied", "not_the_callers")


def test_when_the_log_cannot_be_written_nothing_is_released(app: Flask, holder: Any) -> None:
    refuse_log_entries(app)
    response = _ask(app, holder)
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    for secret in (NAME, ID_NUMBER, "61234500", "LN20190001", "重庆银行", "招商银行"):
        assert secret not in text
    assert response.get_json()["error"] == "service_unavailable"
    assert entries(app, ACTION) == []
    with container(app).sessions() as db:  # the free report was given back with the rollback
        assert db.scalars(select(ReportAllowance.used)).all() in ([], [0])


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_paid_report_that_could_not_be_logged_stays_paid_for(
    scratch_database: ScratchDatabase,
    key_provider: KeyProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a database where every unit really commits: the order's redemption (an ORM step
    inside the query's Core unit) rolls back with the unit when the log entry cannot be
    written, so the subject can still collect what they paid for."""
    upgrade(scratch_database.url)
    app = make_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    person = Person(citizen_id(78), NAME, (loan(date(2019, 1, 1)),))
    account, _ = subject_account(app, person, today=TODAY)
    for _ in range(2):
        assert _ask(app, account).status_code == 200
    order_id = _ask(app, account).get_json()["order_id"]
    with container(app).unit() as db:
        db.execute(update(Order).where(Order.id == uuid.UUID(order_id)).values(status="paid"))

    def broken(self: QueryLog, db: Any, attempt: Any) -> Any:
        raise OperationalError("INSERT INTO query_log", {}, Exception("disk full"))

    monkeypatch.setattr(QueryLog, "append", broken)
    failed = _ask(app, account, {"order_id": order_id})
    assert failed.status_code == 503
    assert NAME not in failed.get_data(as_text=True)
    monkeypatch.undo()
    with container(app).sessions() as db:
        order = db.get(Order, uuid.UUID(order_id))
        assert order is not None
        assert order.redeemed_at is None
    paid = _ask(app, account, {"order_id": order_id})
    assert paid.status_code == 200
    assert paid.get_json()["report"]["fee_fen"] == 1000
    container(app).engine.dispose()


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_a_dead_hsm_when_a_checkpoint_is_due_costs_the_subject_no_free_report(
    scratch_database: ScratchDatabase, tmp_path: Path
) -> None:
    """On databases that really commit, with a checkpoint due after every entry: the report
    whose checkpoint the HSM cannot sign is refused (503, nothing disclosed) and its free
    report is not taken: the charge and the entry roll back with the checkpoint (on
    PostgreSQL the one-statement unit leaves a due checkpoint to the writing unit)."""
    upgrade(scratch_database.url)
    provider = InMemoryKeyProvider()
    app = make_app(
        make_settings(scratch_database.url, tmp_path, log_checkpoint_every=1),
        key_provider=provider,
    )
    person = Person(citizen_id(79), NAME, (loan(date(2019, 1, 1)),))
    account, _ = subject_account(app, person, today=TODAY)
    assert _ask(app, account).status_code == 200
    provider.down = True
    refused = _ask(app, account)
    assert refused.status_code == 503
    assert NAME not in refused.get_data(as_text=True)
    provider.down = False
    assert _ask(app, account).status_code == 200  # the second free report is still there
    assert _ask(app, account).status_code == 402
    parts = container(app)
    with parts.sessions() as db:
        assert db.scalars(select(ReportAllowance.used)).all() == [2]
        decisions = [
            entry.decision
            for entry in db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq))
        ]
        signed = list(db.scalars(select(LogCheckpoint.seq).order_by(LogCheckpoint.seq)))
    assert decisions[-3:] == ["allowed", "allowed", "denied"]
    assert signed[-3:] == [len(decisions) - 2, len(decisions) - 1, len(decisions)]
    with parts.engine.connect() as connection:
        verified = verify_log(connection, provider.public_key_der(SigningKey.LOG_CHECKPOINT))
    assert verified.problem is None
    parts.engine.dispose()


def test_when_the_log_cannot_be_written_no_query_record_is_released(
    app: Flask, holder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _ask(app, holder).status_code == 200  # one entry the page would show

    def broken(self: QueryLog, db: Any, attempt: Any) -> Any:
        raise OperationalError("INSERT INTO query_log", {}, Exception("disk full"))

    monkeypatch.setattr(QueryLog, "append", broken)
    client, _ = client_for(app, holder)
    response = client.get(RECORDS)
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"
    assert ACTION not in response.get_data(as_text=True)
    monkeypatch.undo()
    assert entries(app, "self:query_log:read") == []


def test_the_subject_sees_who_queried_them(app: Flask, holder: Any) -> None:
    assert _ask(app, holder).status_code == 200
    second = _ask(app, holder).get_json()
    [earlier] = second["sections"]["query_records"]
    assert earlier["requester"] == "you"
    assert earlier["action"] == ACTION
    client, _ = client_for(app, holder)
    listed = client.get(RECORDS)
    assert listed.status_code == 200
    assert [r["action"] for r in listed.get_json()["query_records"]] == [ACTION, ACTION]
    assert [e.decision for e in entries(app, "self:query_log:read")] == ["allowed"]


def test_query_records_page_through_everything_and_the_report_shows_the_newest(
    app: Flask, holder: Any
) -> None:
    from app.models import Subject
    from app.services.querylog.log import QueryAttempt

    parts = container(app)
    with parts.unit() as db:
        subject = db.get(Subject, holder.subject_id)
        assert subject is not None
        for number in range(7):
            parts.query_log().append(
                db,
                QueryAttempt(
                    action="archive:report:read",
                    decision="allowed",
                    reason="allowed",
                    actor_kind="subject",
                    actor_ref=f"someone-{number}",
                    request_id=f"r{number}",
                    client_address="127.0.0.1",
                    subject_bidx=subject.id_bidx,
                ),
            )
    client, _ = client_for(app, holder)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(RECORDS + query).get_json()
        seen += [record["requester"] for record in page["query_records"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == ["individual"] * 7  # every entry once; the reads themselves come later
    assert client.get(RECORDS + "?limit=0").status_code == 400
    assert client.get(RECORDS + "?cursor=abc").status_code == 400
    report = _ask(app, holder).get_json()
    assert len(report["sections"]["query_records"]) == 7 + 3  # the three page reads too


def test_query_records_refuse_weak_logins_and_are_logged(app: Flask, holder: Any) -> None:
    client, _ = client_for(app, holder, frozenset({"password"}))
    assert client.get(RECORDS).status_code == 403
    [entry] = entries(app, "self:query_log:read")
    assert entry.decision == "denied"


def test_a_real_card_login_reaches_the_own_report(app: Flask) -> None:
    from app.models import Account
    from tests.services.report_helpers import ingest
    from tests.web.test_card_login import card_login, enrolled_subject

    person = Person(citizen_id(79), "孙丽", (loan(date(2021, 5, 5)),))
    subject_id = ingest(app, [person], today=TODAY)[person.id_number]
    holder = enrolled_subject(app, f"card-{uuid.uuid4().hex[:6]}")
    with container(app).unit() as db:
        db.execute(
            update(Account).where(Account.id == holder.account.id).values(subject_id=subject_id)
        )
    client = app.test_client()
    assert card_login(client, holder).status_code == 200
    csrf = client.get("/api/v1/auth/session").get_json()["csrf_token"]
    response = client.post(REPORTS, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert response.get_json()["subject"] == {"id_number": person.id_number, "name": "孙丽"}


def test_a_key_failure_while_assembling_answers_503_and_logs_a_failed_attempt(
    app: Flask, holder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services.reports.assembly import ReportService
    from crypto.keyring import DataKeyUnavailable

    def broken(self: ReportService, *args: Any, **kwargs: Any) -> Any:
        raise DataKeyUnavailable("data key 7 is unknown or destroyed")

    monkeypatch.setattr(ReportService, "open", broken)
    response = _ask(app, holder)
    assert response.status_code == 503
    assert NAME not in response.get_data(as_text=True)
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.reason) == ("failed", "key_failure")
    assert entry.subject_bidx is not None
    monkeypatch.undo()
    assert _ask(app, holder).status_code == 200  # the failed attempt cost no free report
    assert _ask(app, holder).status_code == 200
