"""Credit repair end to end on both backends: a subject applies with evidence for one of their
penalty records once its minimum display period has passed; a registrar approves and the
record stops showing from max(approval, decision day + minimum) on — in the own report and
the public lists — and the subject sees the decision in their inbox; bad input is refused
with a clear reason, logged, and changes nothing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import text

from app.container import container
from app.services.review.relations import declare
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.services.report_helpers import citizen_id
from tests.web.intake_helpers import TODAY, jsonl, judgment, penalty_row, register_provider, submit
from tests.web.repair_helpers import DESK, PDF, PNG, REPAIRS, apply, reasons, stored
from tests.web.rights_helpers import REGISTRAR_METHODS, Holder, holder_of, registrar

ONE_DAY = timedelta(days=1)
#: the general penalty's decision day (penalty_row) and the first day it may be repaired
GENERAL_DECIDED, GENERAL_OPENS = date(2026, 9, 1), date(2026, 12, 1)
#: a serious penalty decided six months before TODAY: eligible from TODAY on
SERIOUS_DECIDED = date(2026, 6, 4)


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> Holder:
    court = register_provider(app, kind="court")
    rows = [
        penalty_row(court, "P-1", 511),
        penalty_row(court, "P-2", 511, type="D.penalty_serious", occurred_on="2026-06-04"),
        judgment(court, "J-1", 511),
    ]
    return holder_of(app, court, 511, rows)


def _shown(holder: Holder, record_type: str) -> bool:
    return any(r["type"] == record_type for r in holder.records())


def test_an_approved_repair_ends_the_display_and_the_subject_is_told(
    app: Flask, holder: Holder, clock: MovableClock
) -> None:
    record_id = holder.record("D.penalty_general")["id"]
    files = [(PDF, "receipt.pdf", "application/pdf"), (PNG, "licence.png", "image/png")]
    made = apply(holder, record_id, files)
    assert made.status_code == 201, made.get_json()
    application = made.get_json()["application"]
    assert application["status"] == "open"
    assert [(e["position"], e["media_type"]) for e in application["evidence"]] == [
        (1, "application/pdf"),
        (2, "image/png"),
    ]
    again = apply(holder, record_id)
    assert (again.status_code, again.get_json()["error"]) == (409, "repair_open")
    with container(app).engine.connect() as raw:  # at rest: sealed, never the bytes sent
        kept = b"".join(
            bytes(row[0]) for row in raw.execute(text("SELECT content FROM repair_evidence"))
        )
        said = raw.execute(text("SELECT explanation FROM repair_applications")).scalar_one()
    assert PDF[:8] not in kept
    assert PNG[:8] not in kept
    assert "罚款".encode() not in bytes(said)

    desk, headers = registrar(app)
    (listed,) = desk.get(DESK).get_json()["applications"]
    assert listed["explanation"] == application["explanation"]
    evidence = desk.get(f"{DESK}/{application['id']}/evidence/2")
    assert (evidence.status_code, evidence.mimetype, evidence.data) == (200, "image/png", PNG)
    approved = desk.post(f"{DESK}/{application['id']}/approve", json={}, headers=headers)
    assert approved.status_code == 200, approved.get_json()
    decided = approved.get_json()["application"]
    assert (decided["status"], decided["hidden_from"]) == ("approved", TODAY.isoformat())

    # hidden from the approval day on (the minimum period ended on GENERAL_OPENS already)
    assert not _shown(holder, "D.penalty_general")
    assert _shown(holder, "D.penalty_serious")  # only the repaired record goes
    clock.move_to_day(TODAY + ONE_DAY)
    assert not _shown(holder, "D.penalty_general")
    clock.move_to_day(TODAY - ONE_DAY)
    assert _shown(holder, "D.penalty_general")
    found = holder.client.post(
        "/api/v1/public/lists/search",
        json={"id_number": citizen_id(511)},
        headers=holder.headers,
    ).get_json()
    assert any(r["id"] == record_id for e in found["results"] for r in e["records"])
    clock.move_to_day(TODAY)
    found = holder.client.post(
        "/api/v1/public/lists/search",
        json={"id_number": citizen_id(511)},
        headers=holder.headers,
    ).get_json()
    assert all(r["id"] != record_id for e in found["results"] for r in e["records"])

    (mine,) = holder.client.get(REPAIRS).get_json()["applications"]
    assert (mine["status"], mine["hidden_from"]) == ("approved", TODAY.isoformat())
    inbox = holder.client.get("/api/v1/self/inbox").get_json()["messages"]
    (told,) = [m for m in inbox if m["kind"] == "repair_decision"]
    assert TODAY.isoformat() in told["text"]
    assert "罚款" not in told["text"]  # never what the subject wrote
    twice = desk.post(f"{DESK}/{application['id']}/approve", json={}, headers=headers)
    assert (twice.status_code, twice.get_json()["error"]) == (409, "not_open")
    assert reasons(app, "self:repair:create") == [
        ("allowed", "repair_filed"),
        ("denied", "repair_open"),
    ]
    assert reasons(app, "registry:repair:decide") == [
        ("allowed", "repair_approved"),
        ("denied", "not_open"),
    ]


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_an_application_is_accepted_from_the_end_of_the_minimum_period(
    app: Flask, holder: Holder, clock: MovableClock, offset: int
) -> None:
    """The serious penalty's 6 months end on TODAY: the day before is too early, with the day
    it becomes eligible; on it and after it the application is accepted."""
    day = TODAY + offset * ONE_DAY
    clock.move_to_day(day)
    record_id = holder.record("D.penalty_serious")["id"]
    answer = apply(holder, record_id)
    if offset < 0:
        assert answer.status_code == 409
        body = answer.get_json()
        assert (body["error"], body["eligible_from"]) == ("too_early", TODAY.isoformat())
        assert TODAY.isoformat() in body["message"]
        assert stored(app) == (0, 0)
        assert reasons(app, "self:repair:create") == [("denied", "too_early")]
        records = holder.client.get(REPAIRS).get_json()["records"]
        (listed,) = [r for r in records if r["record_type"] == "D.penalty_serious"]
        assert (listed["eligible_from"], listed["eligible_now"]) == (TODAY.isoformat(), False)
        return
    assert answer.status_code == 201, answer.get_json()
    desk, headers = registrar(app)
    application_id = answer.get_json()["application"]["id"]
    approved = desk.post(f"{DESK}/{application_id}/approve", json={}, headers=headers)
    assert approved.get_json()["application"]["hidden_from"] == day.isoformat()
    clock.move_to_day(day - ONE_DAY)
    assert _shown(holder, "D.penalty_serious")
    clock.move_to_day(day)
    assert not _shown(holder, "D.penalty_serious")


def test_bad_applications_are_refused_logged_and_change_nothing(app: Flask, holder: Holder) -> None:
    court = register_provider(app, name="另一法院")
    other = holder_of(app, court, 512, [penalty_row(court, "P-9", 512)])
    theirs = other.record("D.penalty_general")["id"]
    mine = holder.record("D.penalty_general")["id"]
    judgment_id = holder.record("D.civil_judgment")["id"]
    fake_pdf = (b"<html>not a pdf</html>", "receipt.pdf", "application/pdf")
    png_as_pdf = (PNG, "receipt.pdf", "application/pdf")
    large = (PDF + b" " * (5 * 1024 * 1024), "big.pdf", "application/pdf")
    cases = [
        (apply(holder, theirs), 404, "not_found"),
        (apply(holder, judgment_id), 409, "not_eligible"),
        (apply(holder, mine, [fake_pdf]), 400, "evidence_type"),
        (apply(holder, mine, [png_as_pdf]), 400, "evidence_mismatch"),
        (apply(holder, mine, [large]), 413, "evidence_too_large"),
        (apply(holder, mine, []), 400, "bad_request"),
        (apply(holder, mine, explanation="说" * 1001), 400, "bad_request"),
    ]
    for answer, status, error in cases:
        assert (answer.status_code, answer.get_json()["error"]) == (status, error)
        assert "not a pdf" not in answer.get_json()["message"]
    assert stored(app) == (0, 0)
    logged = reasons(app, "self:repair:create")
    assert logged == [
        ("denied", reason)
        for reason in (
            "no_such_record",
            "not_eligible",
            "evidence_type",
            "evidence_mismatch",
            "evidence_too_large",
            "bad_request",
            "bad_request",
        )
    ]


def test_a_body_over_the_routes_limit_is_a_clear_413(app: Flask, holder: Holder) -> None:
    from app.web.repairs import UPLOAD_LIMIT

    mine = holder.record("D.penalty_general")["id"]
    huge = (PDF + b" " * UPLOAD_LIMIT, "huge.pdf", "application/pdf")
    answer = apply(holder, mine, [huge])
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "request_entity_too_large"
    assert stored(app) == (0, 0)
    assert reasons(app, "self:repair:create") == [("denied", "request_entity_too_large")]


def test_registrars_never_decide_their_own_or_a_relatives_application(
    app: Flask, holder: Holder
) -> None:
    record_id = holder.record("D.penalty_general")["id"]
    application_id = apply(holder, record_id).get_json()["application"]["id"]
    approve, refuse = f"{DESK}/{application_id}/approve", f"{DESK}/{application_id}/refuse"
    own, own_headers = registrar(app, subject_id=holder.subject_id)
    answer = own.post(approve, json={}, headers=own_headers)
    assert (answer.status_code, answer.get_json()["error"]) == (403, "own_application")
    username = f"r{uuid.uuid4().hex[:10]}"
    account = make_account(app, username, kind="staff", roles=("registrar",))
    relative, csrf = logged_in(app, account, REGISTRAR_METHODS)
    relative_headers = {"X-CSRF-Token": csrf}
    parts = container(app)
    with parts.unit() as db:
        declare(
            db,
            parts.key_provider,
            username=username,
            id_number=citizen_id(511),
            relation="spouse",
            now=parts.clock.now(),
        )
    answer = relative.post(approve, json={}, headers=relative_headers)
    assert (answer.status_code, answer.get_json()["error"]) == (403, "related_subject")
    (still,) = holder.client.get(REPAIRS).get_json()["applications"]
    assert still["status"] == "open"
    assert _shown(holder, "D.penalty_general")

    desk, headers = registrar(app)
    bare = desk.post(refuse, json={}, headers=headers)
    assert (bare.status_code, bare.get_json()["error"]) == (400, "bad_request")
    refused = desk.post(refuse, json={"reason": "缴款凭证与处罚决定书编号不符。"}, headers=headers)
    assert refused.status_code == 200, refused.get_json()
    assert refused.get_json()["application"]["status"] == "refused"
    assert _shown(holder, "D.penalty_general")  # a refusal changes no display
    (mine,) = holder.client.get(REPAIRS).get_json()["applications"]
    assert mine["reason"] == "缴款凭证与处罚决定书编号不符。"
    kinds = [m["kind"] for m in holder.client.get("/api/v1/self/inbox").get_json()["messages"]]
    assert "repair_decision" in kinds
    assert reasons(app, "registry:repair:decide") == [
        ("denied", "own_application"),
        ("denied", "related_subject"),
        ("denied", "bad_request"),
        ("allowed", "repair_refused"),
    ]
    assert apply(holder, record_id).status_code == 201  # refused: a new application may follow


def test_a_provider_resending_or_correcting_a_repaired_record_never_brings_it_back(
    app: Flask, clock: MovableClock
) -> None:
    court = register_provider(app, kind="court")
    row = penalty_row(court, "R-1", 513)
    holder = holder_of(app, court, 513, [row])
    record_id = holder.record("D.penalty_general")["id"]
    application_id = apply(holder, record_id).get_json()["application"]["id"]
    desk, headers = registrar(app)
    assert (
        desk.post(f"{DESK}/{application_id}/approve", json={}, headers=headers).status_code == 200
    )
    assert not _shown(holder, "D.penalty_general")
    resent = submit(app.test_client(), court, jsonl([row, judgment(court, "R-2", 513)]))
    assert resent.status_code == 201, resent.get_json()
    assert resent.get_json()["counts"]["unchanged"] == 1  # the same row: nothing to change
    assert not _shown(holder, "D.penalty_general")
    fields = {**row["fields"], "fine_fen": 200_000}
    corrected = submit(
        app.test_client(),
        court,
        jsonl([penalty_row(court, "R-1", 513, op="correct", reason="data_error", fields=fields)]),
    )
    assert corrected.status_code == 201, corrected.get_json()
    assert corrected.get_json()["counts"]["corrected"] == 1
    assert not _shown(holder, "D.penalty_general")
    clock.move_to_day(TODAY - ONE_DAY)
    assert _shown(holder, "D.penalty_general")  # the corrected version, until the repair day
