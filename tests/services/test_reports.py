"""Report assembly on real sealed records (both backends, SoftHSM2 keys)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import Record, Subject
from app.services.keys.lifecycle import data_key_loader
from app.services.querylog.records import QueryRecord
from app.services.reports.assembly import ReportService
from crypto.fields import FieldCipher
from crypto.keyring import DataKeyRing
from crypto.keys import KeyProvider, MacKey
from policies.actions import Action
from policies.decision import Decision, Outcome
from tests.services.report_helpers import (
    Person,
    allow,
    citizen_id,
    dishonest,
    ingest,
    loan,
    overdue,
    penalty,
)

TODAY = date(2026, 11, 21)
NAME = "李秀英"


@pytest.fixture
def subject_id(app: Flask) -> Any:
    person = Person(
        citizen_id(41),
        NAME,
        (
            loan(date(2019, 1, 1)),
            overdue(date(2023, 3, 1), date(2023, 6, 1)),
            penalty(date(2026, 5, 1), serious=False),
            dishonest(date(2025, 1, 10), None),
        ),
    )
    return ingest(app, [person], today=TODAY)[person.id_number]


def _report(app: Flask, subject_id: Any, decision: Decision, **kwargs: Any) -> dict[str, Any]:
    parts = container(app)
    service = ReportService(parts.cipher, parts.catalog, policy_version="p" * 64)
    with parts.sessions() as db:
        subject = db.get(Subject, subject_id)
        return service.assemble(
            db,
            subject=subject,
            decision=decision,
            kind=kwargs.pop("kind", "self"),
            on=kwargs.pop("on", TODAY),
            **kwargs,
        )


def test_the_own_report_shows_every_section_and_every_field_in_clear(
    app: Flask, subject_id: Any
) -> None:
    catalog = container(app).catalog
    report = _report(app, subject_id, allow(catalog))
    assert report["subject"] == {"id_number": citizen_id(41), "name": NAME}
    sections = report["sections"]
    assert set(sections) == {
        "identity",
        "financial",
        "social",
        "special",
        "objections",
        "statements",
        "query_records",
    }
    assert [r["type"] for r in sections["financial"]] == ["B.loan", "B.overdue"]
    assert sorted(r["type"] for r in sections["special"]) == [
        "D.dishonest_debtor",
        "D.penalty_general",
    ]
    assert sections["identity"] == []
    assert sections["social"] == []
    assert sections["objections"] == []
    assert sections["statements"] == []
    the_loan = sections["financial"][0]
    assert the_loan["fields"]["balance_fen"] == 61_234_500
    assert the_loan["fields"]["account_ref"] == "LN20190001"
    assert the_loan["masked"] == {}
    assert the_loan["title_zh"]
    assert the_loan["occurred_on"] == "2019-01-01"
    header = report["report"]
    assert header["kind"] == "self"
    assert header["as_of"] == TODAY.isoformat()
    assert header["catalog_version"] == catalog.version
    assert header["policy_version"] == "p" * 64
    assert header["fee_fen"] == 0


def test_only_released_types_and_fields_appear_and_withheld_fields_are_absent(
    app: Flask, subject_id: Any
) -> None:
    catalog = container(app).catalog
    decision = allow(
        catalog,
        record_types={"B.loan"},
        drop={("B.loan", "balance_fen")},
        subject_masks={"name": "none"},
    )
    report = _report(app, subject_id, decision)
    assert report["subject"] == {"name": NAME}
    assert report["sections"]["special"] == []
    [only] = report["sections"]["financial"]
    assert only["type"] == "B.loan"
    assert "balance_fen" not in only["fields"]
    assert "lender" in only["fields"]
    released = ReportService.released_fields(report)
    assert "B.loan.balance_fen" not in released
    assert "B.loan.lender" in released
    assert "subject.name" in released
    assert "subject.id_number" not in released


def test_records_outside_their_display_period_are_hidden_unless_told_otherwise(
    app: Flask, subject_id: Any
) -> None:
    catalog = container(app).catalog
    later = date(2028, 6, 2)  # overdue ended 2023-06-01: shown through 2028-05-31
    shown = _report(app, subject_id, allow(catalog), on=later)
    assert [r["type"] for r in shown["sections"]["financial"]] == ["B.loan"]
    everything = _report(app, subject_id, allow(catalog, hide_undisplayed=False), on=later)
    assert [r["type"] for r in everything["sections"]["financial"]] == ["B.loan", "B.overdue"]
    before = _report(app, subject_id, allow(catalog), on=date(2018, 12, 31))
    assert all(before["sections"][s] == [] for s in ("identity", "financial", "special"))


def test_an_unknown_subject_looks_like_one_without_records(app: Flask) -> None:
    catalog = container(app).catalog
    parts = container(app)
    service = ReportService(parts.cipher, parts.catalog)
    with parts.sessions() as db:
        report = service.assemble(
            db,
            subject=None,
            decision=allow(catalog, tier="archive", subject_masks={"id_number": "first6_last4"}),
            kind="archive",
            on=TODAY,
        )
    assert report["subject"] == {}
    assert all(report["sections"][name] == [] for name in report["sections"])
    assert ReportService.released_fields(report) == []


def test_query_records_appear_in_the_self_report_only(app: Flask, subject_id: Any) -> None:
    catalog = container(app).catalog
    entry = QueryRecord(
        "2026-11-01T08:00:00+00:00",
        "重庆银行",
        "institution:report:query",
        "loan_approval",
    )
    report = _report(app, subject_id, allow(catalog), query_records=[entry])
    assert report["sections"]["query_records"] == [
        {
            "at": "2026-11-01T08:00:00+00:00",
            "requester": "重庆银行",
            "action": "institution:report:query",
            "purpose": "loan_approval",
        }
    ]
    with pytest.raises(ValueError, match="self report only"):
        _report(
            app,
            subject_id,
            allow(catalog, tier="institution"),
            kind="institution",
            query_records=[entry],
        )


def test_a_report_needs_an_allowing_decision(app: Flask, subject_id: Any) -> None:
    denied = Decision(Action.SELF_REPORT_READ, Outcome.DENY, "test")
    with pytest.raises(ValueError, match="allowing decision"):
        _report(app, subject_id, denied)


class _CountingProvider:
    def __init__(self, inner: KeyProvider) -> None:
        self.inner = inner
        self.calls = 0

    def unwrap(self, label: str, wrapped: bytes, aad: bytes) -> bytes:
        self.calls += 1
        return self.inner.unwrap(label, wrapped, aad)

    def hmac_sha256(self, key: MacKey, message: bytes) -> bytes:
        self.calls += 1
        return self.inner.hmac_sha256(key, message)


def test_a_warm_own_report_costs_no_hsm_call_and_a_cold_one_one_per_data_key(
    app: Flask, subject_id: Any, key_provider: KeyProvider
) -> None:
    parts = container(app)
    counting = _CountingProvider(key_provider)
    ring = DataKeyRing(counting, data_key_loader(parts.sessions))  # type: ignore[arg-type]
    service = ReportService(FieldCipher(ring), parts.catalog)
    decision = allow(parts.catalog)
    with parts.sessions() as db:
        subject = db.get(Subject, subject_id)
        assert subject is not None
        keys_used = {subject.data_key_id} | set(
            db.scalars(select(Record.data_key_id).where(Record.subject_id == subject_id))
        )
        first = service.assemble(db, subject=subject, decision=decision, kind="self", on=TODAY)
        cold = counting.calls
        second = service.assemble(db, subject=subject, decision=decision, kind="self", on=TODAY)
    assert first["sections"]["financial"] == second["sections"]["financial"]
    assert cold == len(keys_used)  # one unwrap per data key, no HMAC
    assert counting.calls == cold  # warm: not one HSM call


@pytest.mark.parametrize(
    ("tier", "kind", "drop"),
    [
        ("self", "self", ()),
        ("archive", "archive", ()),
        ("institution", "institution", ()),
        ("self", "self", (("B.loan", "lender"), ("B.loan", "account_ref"))),
    ],
)
def test_the_fields_logged_as_released_are_exactly_the_fields_the_report_shows(
    app: Flask, subject_id: Any, tier: Any, kind: str, drop: tuple[tuple[str, str], ...]
) -> None:
    """The own report logs `shaped.released` before its document is built (after its unit
    committed): it must name exactly what the document holds, withheld fields excluded."""
    parts = container(app)
    decision = allow(parts.catalog, tier=tier, drop=drop)
    service = ReportService(parts.cipher, parts.catalog)
    with parts.sessions() as db:
        subject = db.get(Subject, subject_id)
        opened = service.open(db.connection(), subject=subject, decision=decision, on=TODAY)
    shaped = service.shape(opened, decision=decision)
    logged = shaped.released
    report = service.document(shaped, decision=decision, kind=kind, on=TODAY)
    shown = {f"subject.{name}" for name in report["subject"]} | {
        f"{record['type']}.{name}"
        for section in ("identity", "financial", "social", "special")
        for record in report["sections"][section]
        for name in record["fields"]
    }
    assert logged == sorted(shown)
    assert logged  # the subject has records of every section
    assert not {f"{code}.{name}" for code, name in drop} & set(logged)
