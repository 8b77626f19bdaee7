"""Paid archive and billing over HTTP: order, 402, cashier or provider payment, the 7-day
download window, refunds, signed notifications, ledger top-ups; every archive attempt logged."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry, RefusedNotification
from app.services.billing.payments import sign
from policies.identifiers import make_citizen_id
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.services.billing_helpers import add_institution

SUBJECT = frozenset({"password", "card"})
STAFF = frozenset({"password", "totp"})
ID_NUMBER = make_citizen_id("500103", date(1984, 6, 2), 17)


class Caller:
    def __init__(self, client: FlaskClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    def post(self, path: str, body: object) -> tuple[int, dict[str, object]]:
        response = self.client.post(path, json=body, headers={"X-CSRF-Token": self.csrf})
        return response.status_code, response.get_json()

    def get(self, path: str) -> tuple[int, dict[str, object]]:
        response = self.client.get(path)
        return response.status_code, response.get_json()


def _subject(app: Flask, name: str = "buyer") -> Caller:
    return Caller(*logged_in(app, make_account(app, name), SUBJECT))


def _cashier(app: Flask, name: str = "cashier", methods: frozenset[str] = STAFF) -> Caller:
    account = make_account(app, name, kind="staff", roles=("cashier",))
    return Caller(*logged_in(app, account, methods))


def _order(buyer: Caller) -> str:
    status, body = buyer.post("/api/v1/archive/orders", {"id_number": ID_NUMBER})
    assert status == 201, body
    order = body["order"]
    assert isinstance(order, dict)
    return str(order["id"])


def _log(app: Flask) -> list[QueryLogEntry]:
    with container(app).unit() as db:
        return list(db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq)))


def test_archive_order_pay_download_and_expire(app: Flask, clock: MovableClock) -> None:
    buyer, cashier = _subject(app), _cashier(app)
    order_id = _order(buyer)
    _, mine = buyer.get(f"/api/v1/self/orders/{order_id}")
    assert mine["order"]["status"] == "pending"  # type: ignore[index]
    assert mine["order"]["fee_fen"] == 2000  # type: ignore[index]
    report = f"/api/v1/archive/orders/{order_id}/report"
    status, body = buyer.get(report)
    assert (status, body["error"], body["order_id"]) == (402, "payment_required", order_id)

    status, body = cashier.post(f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": "R1"})
    assert status == 200
    assert body["order"]["status"] == "paid"  # type: ignore[index]
    # a retried confirmation answers the same order unchanged
    assert (
        cashier.post(f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": "R1"})[0] == 200
    )

    status, body = buyer.get(report)
    assert status == 200
    assert body["report"]["kind"] == "archive"  # type: ignore[index]
    assert body["report"]["fee_fen"] == 2000  # type: ignore[index]
    assert ID_NUMBER not in json.dumps(body)

    clock.advance(timedelta(days=6, hours=23))
    assert buyer.get(report)[0] == 200
    clock.advance(timedelta(hours=1, minutes=1))
    assert buyer.get(report)[0] == 410
    clock.advance(-timedelta(days=7, minutes=1))

    # downloaded: the report was issued, so the payment can no longer be refunded
    status, body = cashier.post(f"/api/v1/billing/orders/{order_id}/refund", {"reason": "asked"})
    assert (status, body["error"]) == (409, "order_used")
    _, mine = buyer.get(f"/api/v1/self/orders/{order_id}")
    assert mine["order"]["status"] == "paid"  # type: ignore[index]

    entries = [e for e in _log(app) if e.action.startswith("archive:")]
    downloads = [e for e in entries if e.action == "archive:report:read"]
    assert [e.decision for e in downloads] == ["denied", "allowed", "allowed", "denied"]
    assert {e.fee_fen for e in downloads if e.decision == "allowed"} == {2000}
    assert all(e.subject_bidx is not None and len(e.subject_bidx) == 32 for e in entries)
    assert all(ID_NUMBER not in (e.fields_released + e.reason) for e in entries)


def test_a_paid_archive_order_not_yet_downloaded_can_be_refunded_and_is_then_gone(
    app: Flask,
) -> None:
    buyer, cashier = _subject(app), _cashier(app)
    order_id = _order(buyer)
    assert (
        cashier.post(f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": "R9"})[0] == 200
    )
    status, body = cashier.post(f"/api/v1/billing/orders/{order_id}/refund", {"reason": "asked"})
    assert (status, body["order"]["status"]) == (200, "refunded")  # type: ignore[index]
    assert buyer.get(f"/api/v1/archive/orders/{order_id}/report")[0] == 410


def test_someone_elses_order_is_not_found(app: Flask) -> None:
    order_id = _order(_subject(app))
    stranger = _subject(app, "stranger")
    assert stranger.get(f"/api/v1/self/orders/{order_id}")[0] == 404
    assert stranger.get(f"/api/v1/archive/orders/{order_id}/report")[0] == 404
    assert stranger.get("/api/v1/self/orders")[1] == {"orders": []}


def test_an_unknown_id_number_is_ordered_like_any_other_and_a_bad_one_is_400(app: Flask) -> None:
    buyer = _subject(app)
    unknown = make_citizen_id("500103", date(1990, 1, 1), 42)
    status, body = buyer.post("/api/v1/archive/orders", {"id_number": unknown})
    assert status == 201
    assert set(body["order"]) >= {"id", "status", "fee_fen"}  # type: ignore[arg-type]
    bad = ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")
    status, body = buyer.post("/api/v1/archive/orders", {"id_number": bad})
    assert status == 400
    assert bad not in json.dumps(body)
    assert buyer.post("/api/v1/archive/orders", {"id": bad})[0] == 400
    orders = [e for e in _log(app) if e.action == "archive:order:create"]
    assert [(e.decision, e.reason) for e in orders][1:] == [
        ("denied", "invalid_id_number"),
        ("denied", "malformed_body"),
    ]
    assert all(bad not in f"{e.reason}{e.fields_released}" for e in orders)


def test_an_hsm_failure_while_ordering_is_503_and_a_failed_entry(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crypto.keys import HsmUnavailable

    buyer = _subject(app)

    def dead(*_args: object, **_kwargs: object) -> bytes:
        raise HsmUnavailable("token gone")

    monkeypatch.setattr(container(app).key_provider, "hmac_sha256", dead)
    status, body = buyer.post("/api/v1/archive/orders", {"id_number": ID_NUMBER})
    assert (status, body["error"]) == (503, "service_unavailable")
    assert ID_NUMBER not in json.dumps(body)
    (entry,) = [e for e in _log(app) if e.action == "archive:order:create"]
    assert (entry.decision, entry.subject_bidx) == ("failed", None)


def test_cashier_routes_refuse_subjects_other_staff_and_weak_sessions(app: Flask) -> None:
    order_id = _order(_subject(app))
    registrar = make_account(app, "registrar", kind="staff", roles=("registrar",))
    callers = [
        _subject(app, "nosy"),
        Caller(*logged_in(app, registrar, STAFF)),
        _cashier(app, "weak", methods=frozenset({"password"})),
    ]
    for caller in callers:
        status, _ = caller.post(f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": "X"})
        assert status in (401, 403)
        assert caller.post(f"/api/v1/billing/orders/{order_id}/refund", {"reason": "x"})[0] in (
            401,
            403,
        )
    _, mine = callers[0].get("/api/v1/self/orders")
    assert mine == {"orders": []}


def _notify(
    client: FlaskClient, app: Flask, body: dict[str, object], *, key: bytes | None = None,
    skew: int = 0, tamper: bytes | None = None,
) -> tuple[int, dict[str, object]]:  # fmt: skip
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) + skew)
    secret = key if key is not None else container(app).settings.read_payment_notify_key()
    headers = {"X-CG-Timestamp": stamp, "X-CG-Signature": sign(secret, stamp, raw)}
    response = client.post(
        "/api/v1/billing/payment-notifications",
        data=tamper if tamper is not None else raw,
        headers=headers,
        content_type="application/json",
    )
    return response.status_code, response.get_json()


def test_signed_payment_notifications(app: Flask) -> None:
    buyer = _subject(app)
    order_id = _order(buyer)
    provider = app.test_client()
    good = {"notification_id": "N-1", "order_id": order_id, "amount_fen": 2000, "payment_ref": "W1"}

    assert _notify(provider, app, good, key=b"k" * 48)[1]["error"] == "bad_signature"
    assert _notify(provider, app, good, skew=-301)[1]["error"] == "stale_timestamp"
    altered = json.dumps({**good, "amount_fen": 1}).encode()
    assert _notify(provider, app, good, tamper=altered)[1]["error"] == "bad_signature"
    status, body = _notify(provider, app, {**good, "amount_fen": 1})
    assert (status, body["error"]) == (409, "amount_mismatch")
    assert buyer.get(f"/api/v1/self/orders/{order_id}")[1]["order"]["status"] == "pending"  # type: ignore[index]

    status, body = _notify(provider, app, good)
    assert (status, body["order"]["paid_via"]) == (200, "notification")  # type: ignore[index]
    status, body = _notify(provider, app, good)
    assert (status, body["error"]) == (409, "notification_replayed")
    status, body = _notify(provider, app, {**good, "notification_id": "N-2"})
    assert (status, body["error"]) == (409, "order_not_pending")
    assert buyer.get(f"/api/v1/archive/orders/{order_id}/report")[0] == 200
    notices = [e for e in _log(app) if e.action == "billing:payment:notify"]
    # from a verified signature on, each notification is one entry ...
    assert [(e.decision, e.reason) for e in notices] == [
        ("denied", "amount_mismatch"),
        ("allowed", "signed_payment_notification"),
        ("denied", "notification_replayed"),
        ("denied", "order_not_pending"),
    ]
    assert {e.actor_kind for e in notices} == {"payment_provider"}
    # ... and the ones refused before it verified are counted, not chained (anyone can send them)
    with container(app).snapshot() as db:
        refused = dict(
            db.execute(select(RefusedNotification.reason, RefusedNotification.refused)).all()
        )
    assert refused == {"bad_signature": 2, "stale_timestamp": 1}


def test_top_up_then_debit_shows_in_both_ledger_views(app: Flask) -> None:
    from app.services.billing.ledger import LedgerService

    with container(app).unit() as db:
        bank = add_institution(db)
        client_id, bank_id = bank.client_id, bank.id
    cashier = _cashier(app)
    path = f"/api/v1/billing/institutions/{client_id}/top-ups"
    status, body = cashier.post(path, {"amount_fen": 10000, "reference": "RCPT-7"})
    assert (status, body["balance_fen"]) == (201, 10000)
    assert cashier.post(path, {"amount_fen": -5, "reference": "x"})[0] == 400
    assert (
        cashier.post(
            "/api/v1/billing/institutions/nobody/top-ups", {"amount_fen": 1, "reference": "x"}
        )[0]
        == 404
    )
    with container(app).unit() as db:
        LedgerService().debit(db, institution_id=bank_id, amount_fen=2500, reference="report")
    status, body = cashier.get(f"/api/v1/billing/institutions/{client_id}/ledger")
    assert status == 200
    assert body["balance_fen"] == 7500
    assert [e["kind"] for e in body["entries"]] == ["debit", "topup"]  # type: ignore[union-attr]
    subject = _subject(app)
    assert subject.get(f"/api/v1/billing/institutions/{client_id}/ledger")[0] == 403


def test_an_archive_report_reads_the_same_whether_or_not_the_subject_exists(app: Flask) -> None:
    from tests.services.report_helpers import Person, ingest, loan

    known = make_citizen_id("500103", date(1979, 2, 3), 23)  # a subject with no archive records
    unknown = make_citizen_id("500103", date(1979, 2, 3), 24)  # nobody
    ingest(app, [Person(known, "林知秋", (loan(date(2020, 3, 1)),))], today=date.today())
    buyer, cashier = _subject(app), _cashier(app)
    bodies = []
    for number, reference in ((known, "K1"), (unknown, "U1")):
        status, placed = buyer.post("/api/v1/archive/orders", {"id_number": number})
        assert status == 201
        order_id = placed["order"]["id"]  # type: ignore[index]
        paid = cashier.post(
            f"/api/v1/billing/orders/{order_id}/confirm", {"payment_ref": reference}
        )
        assert paid[0] == 200
        status, body = buyer.get(f"/api/v1/archive/orders/{order_id}/report")
        assert status == 200
        assert "林知秋" not in json.dumps(body, ensure_ascii=False)
        bodies.append(body)
    shown = [(body["subject"], body["sections"]) for body in bodies]
    assert shown[0][1] == shown[1][1]  # empty sections alike
    assert shown[0][0] == {"id_number": known[:6] + "********" + known[-4:]}
    assert shown[1][0] == {"id_number": unknown[:6] + "********" + unknown[-4:]}
