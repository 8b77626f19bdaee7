"""Department intake through the API: the unified format, the rules of law, receipts, bad input.

Each bad row is refused with its row, field and rule, stores nothing of itself, and leaves the
rest of its batch applied. Runs on SQLite and PostgreSQL, the service's day fixed at TODAY.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from app.container import container
from app.models import (
    CollectionConsent,
    IntakeBatch,
    PriorNotice,
    PublicListEntry,
    QueryLogEntry,
    Record,
    Subject,
)
from app.services.reports.assembly import ReportService
from crypto.blind_index import BlindIndexKind, blind_index
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.services.report_helpers import allow, citizen_id
from tests.web.intake_helpers import (
    TODAY,
    Provider,
    jsonl,
    judgment,
    penalty_row,
    register_provider,
    submit,
)
from tests.web.oauth_helpers import ALL_SCOPES, ec_key, get_token, register


@pytest.fixture(autouse=True)
def _today(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def _subject_id(app: Flask, sequence: int) -> uuid.UUID | None:
    bidx = blind_index(container(app).key_provider, BlindIndexKind.CITIZEN_ID, citizen_id(sequence))
    with container(app).sessions() as db:
        return db.scalar(select(Subject.id).where(Subject.id_bidx == bidx))


def _report(app: Flask, sequence: int) -> dict[str, Any]:
    parts = container(app)
    subject_id = _subject_id(app, sequence)
    with parts.sessions() as db:
        subject = db.get(Subject, subject_id) if subject_id else None
        return ReportService(parts.cipher, parts.catalog).assemble(
            db, subject=subject, decision=allow(parts.catalog), kind="self", on=TODAY
        )


def _shown(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r
        for name in ("identity", "financial", "social", "special")
        for r in report["sections"][name]
    ]


def _count(app: Flask, model: Any) -> int:
    with container(app).sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_batch_is_applied_and_its_receipt_counts_every_row(app: Flask) -> None:
    court = register_provider(app)
    client = app.test_client()
    body = jsonl([judgment(court, "J-1", 301), penalty_row(court, "P-1", 302)])
    response = submit(client, court, body)
    assert response.status_code == 201, response.get_json()
    receipt = response.get_json()
    assert receipt["status"] == "done"
    assert receipt["counts"]["rows"] == 2
    assert receipt["counts"]["added"] == 2
    assert receipt["errors"] == []
    shown = _shown(_report(app, 301))
    assert [r["type"] for r in shown] == ["D.civil_judgment"]
    assert shown[0]["fields"]["amount_fen"] == 1_200_000
    with container(app).sessions() as db:
        record = db.scalars(select(Record).where(Record.provider_record_id == "J-1")).one()
        assert (record.version, record.status, record.received_on) == (1, "current", TODAY)
        assert b"1200000" not in record.payload.to_bytes()  # sealed
        entries = db.scalars(select(PublicListEntry.record_type)).all()
        assert entries == ["D.penalty_general"]  # the public one is searchable
    again = client.get(f"/api/v1/intake/batches/{receipt['batch_id']}", headers=court.headers())
    assert again.status_code == 200
    assert again.get_json()["counts"] == receipt["counts"]


def test_a_record_id_twice_in_one_batch_is_applied_once(app: Flask) -> None:
    court = register_provider(app)
    first = judgment(court, "D-1", 304)
    changed = judgment(court, "D-1", 304, fields={**FIELDS, "performance": "performed"})
    receipt = submit(app.test_client(), court, jsonl([first, first, changed])).get_json()
    assert receipt["counts"]["added"] == 1
    assert receipt["counts"]["unchanged"] == 1  # the same row again: idempotent
    assert _errors(receipt) == {3: ("record_id", "intake.duplicate_row")}
    assert _count(app, Record) == 1


def test_the_same_bytes_again_are_refused_as_a_replay_and_change_nothing(app: Flask) -> None:
    court = register_provider(app)
    client = app.test_client()
    body = jsonl([judgment(court, "J-2", 303)])
    first = submit(client, court, body).get_json()
    records = _count(app, Record)
    replay = submit(client, court, body)
    assert replay.status_code == 409
    assert replay.get_json()["batch_id"] == first["batch_id"]
    assert _count(app, Record) == records
    assert _count(app, IntakeBatch) == 1
    # the same record in another batch is idempotent: unchanged, nothing written
    other = submit(client, court, jsonl([judgment(court, "J-2", 303)]) + b"\n")
    assert other.get_json()["counts"]["unchanged"] == 1
    assert _count(app, Record) == records
    with container(app).sessions() as db:
        reasons = db.scalars(
            select(QueryLogEntry.reason).where(QueryLogEntry.action == "provider:records:submit")
        ).all()
    assert list(reasons) == ["batch_done", "replayed_batch", "batch_done"]


FIELDS = judgment(Provider("x", "x", ec_key()), "x", 1)["fields"]


def _errors(receipt: dict[str, Any]) -> dict[int, tuple[str | None, str]]:
    return {e["row"]: (e["field"], e["rule"]) for e in receipt["errors"]}


def test_bad_rows_are_refused_by_row_field_and_rule_and_the_rest_is_applied(app: Flask) -> None:
    court = register_provider(app)
    other = register_provider(app, name="重庆市第二中级人民法院")
    no_notice = judgment(court, "B-5", 315)
    del no_notice["notice"]
    rows: list[Any] = [
        judgment(court, "B-1", 311),  # 1 fine
        "{not json",  # 2 malformed
        judgment(court, "B-3", 312, type="D.alien_abduction"),  # 3 unknown type
        judgment(court, "B-4", 313, fields={**FIELDS, "shoe_size": "XXL-EU"}),
        no_notice,  # 5 negative record without notice
        judgment(court, "B-6", 316, fields={**FIELDS, "blood_type": "RH-NEG-AB"}),
        judgment(other, "B-7", 317),  # 7 another provider's record
        judgment(court, "B-8", 318, subject={"id_number": "500103198503140012", "name": "某"}),
        ["a", "list"],  # 9 not an object
        penalty_row(court, "B-10", 319),  # 10 fine
    ]
    body = jsonl(rows)
    truncated = body + b'{"op": "add", "provider": "' + court.code.encode() + b'", "rec'
    response = submit(app.test_client(), court, truncated)
    assert response.status_code == 201
    receipt = response.get_json()
    assert _errors(receipt) == {
        2: (None, "format.malformed_line"),
        3: ("type", "catalog.unknown_type"),
        4: ("fields.shoe_size", "catalog.undeclared_field"),
        5: ("notice", "law.prior_notice"),
        6: ("fields.blood_type", "law.prohibited_collection"),
        7: ("provider", "intake.provider_mismatch"),
        8: ("subject.id_number", "identifier.citizen_id"),
        9: (None, "format.malformed_line"),
        11: (None, "format.truncated_line"),
    }
    assert receipt["counts"]["added"] == 2
    assert receipt["counts"]["rejected"] == 9
    assert receipt["counts"]["rows"] == 11
    text = json.dumps(receipt, ensure_ascii=False)
    for value in ("500103198503140012", "alien", "XXL-EU", "RH-NEG-AB"):
        assert value not in text
    for sequence in (312, 313, 315, 316, 317):
        assert _subject_id(app, sequence) is None  # nothing of a refused row is stored
    assert [r["type"] for r in _shown(_report(app, 311))] == ["D.civil_judgment"]
    assert _count(app, Record) == 2
    assert _count(app, PriorNotice) == 1


def test_consent_bound_fields_need_a_written_consent_on_record(app: Flask) -> None:
    bureau = register_provider(app, kind="social_insurance", name="重庆市社会保险事务中心")
    person = {"id_number": citizen_id(321), "name": "刘洋"}

    def insurance(record_id: str, **changes: Any) -> dict[str, Any]:
        row = {
            "op": "add",
            "provider": bureau.code,
            "record_id": record_id,
            "type": "C.social_insurance",
            "subject": person,
            "occurred_on": "2020-01-01",
            "fields": {
                "insurance_kind": "pension",
                "paid_through": "employer",
                "contribution_base_fen": 800_000,
                "months_contributed": 70,
                "last_paid_month": "2026-11",
                "status": "contributing",
            },
        }
        row.update(changes)
        return row

    consent = {
        "op": "consent",
        "provider": bureau.code,
        "consent_ref": "SQ-2026-001",
        "subject": person,
        "signed_on": "2026-01-05",
        "concepts": ["income"],
    }
    rows = [
        insurance("S-1"),  # 1 no consent_ref
        insurance("S-2", consent_ref="SQ-2026-001"),  # 2 not on record yet
        consent,  # 3 the written consent
        insurance("S-4", consent_ref="SQ-2026-001"),  # 4 now covered
        insurance(
            "S-5", consent_ref="SQ-2026-001", subject={"id_number": citizen_id(322), "name": "王五"}
        ),
    ]
    receipt = submit(app.test_client(), bureau, jsonl(rows)).get_json()
    assert _errors(receipt) == {
        1: ("fields.contribution_base_fen", "law.consent_required"),
        2: ("consent_ref", "intake.consent_unknown"),
        5: ("consent_ref", "intake.consent_unknown"),
    }
    assert (receipt["counts"]["consents"], receipt["counts"]["added"]) == (1, 1)
    with container(app).sessions() as db:
        record = db.scalars(select(Record).where(Record.provider_record_id == "S-4")).one()
        consent_row = db.scalars(select(CollectionConsent)).one()
        assert record.consent_id == consent_row.id
        assert consent_row.concepts == "income"


def test_a_correction_makes_a_new_version_and_a_withdrawal_ends_display(app: Flask) -> None:
    court = register_provider(app)
    client = app.test_client()
    submit(client, court, jsonl([judgment(court, "C-1", 331), penalty_row(court, "C-2", 331)]))
    corrected_fields = {**judgment(court, "x", 1)["fields"], "performance": "performed"}
    receipt = submit(
        client,
        court,
        jsonl(
            [
                judgment(
                    court, "C-1", 331, op="correct", reason="data_error", fields=corrected_fields
                ),
                {
                    "op": "withdraw",
                    "provider": court.code,
                    "record_id": "C-2",
                    "reason": "decision_revoked",
                },
                {"op": "withdraw", "provider": court.code, "record_id": "C-404", "reason": "other"},
                judgment(court, "C-2", 331, op="correct", reason="update"),
            ]
        ),
    ).get_json()
    assert (receipt["counts"]["corrected"], receipt["counts"]["withdrawn"]) == (1, 1)
    assert _errors(receipt) == {
        3: ("record_id", "intake.unknown_record"),
        4: ("record_id", "intake.unknown_record"),  # withdrawn: nothing current to correct
    }
    shown = _shown(_report(app, 331))
    assert [(r["type"], r["fields"]["performance"]) for r in shown] == [
        ("D.civil_judgment", "performed")
    ]
    with container(app).sessions() as db:
        versions = db.execute(
            select(
                Record.provider_record_id, Record.version, Record.status, Record.change_reason
            ).order_by(Record.provider_record_id, Record.version)
        ).all()
        assert [tuple(v) for v in versions] == [
            ("C-1", 1, "superseded", "data_error"),
            ("C-1", 2, "current", "data_error"),
            ("C-2", 1, "withdrawn", "decision_revoked"),
        ]
        assert (
            db.scalars(select(PublicListEntry)).all() == []
        )  # the withdrawn penalty left the lists
        reasons = sorted(
            db.scalars(
                select(QueryLogEntry.reason).where(
                    QueryLogEntry.action == "provider:records:submit",
                    QueryLogEntry.subject_bidx.is_not(None),
                )
            )
        )
    assert reasons == ["corrected", "withdrawn"]


def test_the_subject_sees_the_prior_notice_of_a_negative_record(app: Flask) -> None:
    court = register_provider(app)
    submit(app.test_client(), court, jsonl([judgment(court, "N-1", 341)]))
    subject_id = _subject_id(app, 341)
    account = make_account(app, "notice.reader", subject_id=subject_id)
    client, _ = logged_in(app, account, frozenset({"password", "card"}))
    response = client.get("/api/v1/self/notices")
    assert response.status_code == 200
    (notice,) = response.get_json()["notices"]
    assert notice["notified_on"] == "2026-06-10"
    assert notice["channel"] == "registered_mail"
    assert notice["record_type"] == "D.civil_judgment"
    assert notice["provider"] == "重庆市第一中级人民法院"
    assert notice["record"] == "shown"
    stranger = make_account(app, "notice.stranger", subject_id=None)
    other, _ = logged_in(app, stranger, frozenset({"password", "card"}))
    assert other.get("/api/v1/self/notices").status_code == 404


def test_csv_rows_go_through_the_same_checks(app: Flask) -> None:
    court = register_provider(app)
    header = (
        "op,provider,record_id,type,id_number,name,occurred_on,ended_on,"
        "fields.authority,fields.authority_credit_code,fields.decision_number,"
        "fields.violation,fields.penalty_kind,fields.fine_fen\n"
    )
    good = penalty_row(court, "V-1", 351)
    cells = [
        "add", court.code, "V-1", "D.penalty_general", citizen_id(351), "测试351",
        "2026-09-01", "2026-09-01", good["fields"]["authority"],
        good["fields"]["authority_credit_code"], "渝中市监罚〔2026〕9号", "无照经营", "fine",
        "300000",
    ]  # fmt: skip
    bad = [*cells[:2], "V-2", *cells[3:-1], "three hundred"]
    body = (header + ",".join(cells) + "\n" + ",".join(bad) + "\n" + "add,only,three\n").encode()
    receipt = submit(app.test_client(), court, body, "text/csv").get_json()
    assert receipt["format"] == "csv"
    assert receipt["counts"]["added"] == 1
    assert _errors(receipt) == {
        3: ("fields.fine_fen", "catalog.field"),
        4: (None, "format.malformed_line"),
    }


def test_only_registered_providers_submit_and_read_their_own_batches(app: Flask) -> None:
    client = app.test_client()
    key = ec_key()
    bank = register(app, key, scopes=ALL_SCOPES)
    token = get_token(client, key, bank)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    refused = client.post("/api/v1/intake/batches", data=b"{}\n", headers=headers)
    assert refused.status_code == 403  # no provider scope
    court = register_provider(app)
    other = register_provider(app, name="重庆市第三中级人民法院")
    receipt = submit(client, court, jsonl([judgment(court, "O-1", 361)])).get_json()
    peek = client.get(f"/api/v1/intake/batches/{receipt['batch_id']}", headers=other.headers())
    assert peek.status_code == 404
    wrong_media = submit(client, court, b"{}", "application/json")
    assert wrong_media.status_code == 415
    assert client.post("/api/v1/intake/batches", data=b"{}").status_code == 401


def test_the_schema_of_each_type_is_generated_from_the_catalog(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/api/v1/intake/schema/D.civil_judgment")
    assert response.status_code == 200
    schema = response.get_json()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    court = Provider("91500000MA00000001", "x", ec_key())
    good = judgment(court, "S-1", 371)
    assert list(validator.iter_errors(good)) == []
    no_notice = dict(good)
    del no_notice["notice"]
    assert list(validator.iter_errors(no_notice))
    assert list(validator.iter_errors({**good, "fields": {**good["fields"], "shoe": 1}}))
    wage = client.get("/api/v1/intake/schema/C.employment").get_json()
    row = {
        "op": "add", "provider": court.code, "record_id": "E-1", "type": "C.employment",
        "subject": good["subject"], "occurred_on": "2020-01-01",
        "fields": {"employer": "某公司", "employer_credit_code": court.code,
                   "employer_kind": "private", "monthly_wage_fen": 900_000},
    }  # fmt: skip
    assert list(Draft202012Validator(wage).iter_errors(row))  # the wage needs consent_ref
    assert list(Draft202012Validator(wage).iter_errors({**row, "consent_ref": "C-1"})) == []
    assert client.get("/api/v1/intake/schema/consent").status_code == 200
    assert client.get("/api/v1/intake/schema/X.nothing").status_code == 404
