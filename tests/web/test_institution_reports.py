"""`POST /api/v1/institution/reports` end to end on both backends: consent verified against the
subject's card, categories = purpose ∩ scope, institution masks, fee debited from the prepaid
ledger, consent use counted, one query-log entry per attempt; every bad input refused, logged
as denied, nothing released, no use counted, no fee taken."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.demo.generator import generate_providers, generate_subjects
from app.models import Consent, Institution, QueryLogEntry
from app.models.base import utcnow
from app.services.billing.ledger import LedgerService
from app.services.reports.assembly import SECTION_BY_CATEGORY
from tests.consent_helpers import (
    TODAY,
    Signer,
    claims_for,
    ingest_subjects,
    sign_token,
    signer_for,
    token_for,
)
from tests.logins import logged_in
from tests.web.oauth_helpers import ec_key, get_token, register
from tests.web.test_card_login import SoftCard

REPORTS = "/api/v1/institution/reports"
PURPOSE = "loan_approval"  # categories A, B, D


@dataclass
class World:
    app: Flask
    client: FlaskClient
    alice: Signer
    bob: Signer
    bank: str
    bank_id: Any
    bearer: str
    other_bank: str

    def ask(self, token: str, **body: Any) -> Any:
        payload = {"id_number": self.alice.id_number, "purpose": PURPOSE, "consent_token": token}
        payload.update(body)
        return self.client.post(
            REPORTS, json=payload, headers={"Authorization": f"Bearer {self.bearer}"}
        )

    def balance(self) -> int:
        with container(self.app).sessions() as db:
            return LedgerService().balance(db, self.bank_id)

    def uses(self, jti: str) -> int | None:
        with container(self.app).sessions() as db:
            return db.scalars(select(Consent.uses).where(Consent.jti == jti)).one_or_none()

    def log(self) -> list[QueryLogEntry]:
        with container(self.app).sessions() as db:
            return list(db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq)))


@pytest.fixture
def world(app: Flask) -> World:
    alice, bob = ingest_subjects(app, 2)
    key = ec_key()
    bank = register(app, key)
    client = app.test_client()
    bearer = get_token(client, key, bank)
    with container(app).unit() as db:
        bank_id = db.scalars(select(Institution.id).where(Institution.client_id == bank)).one()
        LedgerService().top_up(
            db, institution_id=bank_id, amount_fen=10_000, reference="T1", created_by="cashier"
        )
    return World(
        app,
        client,
        signer_for(app, alice, "alice"),
        signer_for(app, bob, "bob"),
        bank,
        bank_id,
        bearer,
        register(app, ec_key()),
    )


def test_the_report_holds_only_the_purpose_within_the_scope_and_is_paid_and_logged(
    world: World,
) -> None:
    token = token_for(world.alice, world.bank, PURPOSE, scope=("A", "B", "C"), max_uses=2)
    before = world.balance()
    response = world.ask(token)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["report"]["kind"] == "institution"
    assert report["report"]["purpose"] == PURPOSE
    hidden = {SECTION_BY_CATEGORY[c] for c in ("C", "D")}  # C not in purpose, D not in scope
    assert all(report["sections"][name] == [] for name in hidden)
    assert report["sections"]["query_records"] == []
    shown = report["subject"].get("id_number")
    assert shown != world.alice.id_number  # masked for institutions
    assert world.alice.id_number not in response.get_data(as_text=True)
    assert "name" not in report["subject"] or report["subject"]["name"] != ""
    (entry,) = [e for e in world.log() if e.decision == "allowed"]
    charged = before - world.balance()
    assert charged > 0
    assert entry.fee_fen == charged
    assert (entry.purpose, entry.actor_ref, entry.action) == (
        PURPOSE,
        world.bank,
        "institution:report:query",
    )
    assert entry.consent_jti is not None
    assert world.uses(entry.consent_jti) == 1
    assert entry.subject_bidx is not None
    assert len(entry.subject_bidx) == 32
    assert world.alice.id_number not in entry.fields_released
    assert response.headers.get("X-Request-Id") == entry.request_id


def _cases(w: World) -> dict[str, tuple[Callable[[], Any], int, str]]:
    alice = w.alice
    good = token_for(alice, w.bank, PURPOSE)
    head, body, sig = good.split(".")
    forged = sign_token(w.bob.card, alice.kid, {"x": 1})
    id_ok = alice.id_number
    bad_check = id_ok[:-1] + ("0" if id_ok[-1] != "0" else "1")
    return {
        "forged": (lambda: w.ask(f"{head}.{body}.{sig[::-1]}"), 404, "not_found"),
        "forged_other_card": (lambda: w.ask(forged), 404, "not_found"),
        "unknown_subject": (
            lambda: w.ask(good, id_number=_unknown(w)),
            404,
            "not_found",
        ),
        "expired": (
            lambda: w.ask(token_for(alice, w.bank, PURPOSE, days=1, iat=1, exp=2)),
            403,
            "expired",
        ),
        "other_institution": (
            lambda: w.ask(token_for(alice, w.other_bank, PURPOSE)),
            403,
            "wrong_audience",
        ),
        "other_purpose": (
            lambda: w.ask(token_for(alice, w.bank, "tenancy_screening")),
            403,
            "wrong_purpose",
        ),
        "other_subject": (
            lambda: w.ask(token_for(alice, w.bank, PURPOSE, sub=str(w.bob.subject_id))),
            403,
            "wrong_subject",
        ),
        "purpose_outside_list": (lambda: w.ask(good, purpose="marketing"), 400, "bad_request"),
        "bad_check_character": (lambda: w.ask(good, id_number=bad_check), 400, "bad_request"),
        "malformed_token": (lambda: w.ask("not.a.token"), 400, "malformed"),
        "malformed_body": (
            lambda: w.client.post(
                REPORTS,
                data="{",
                content_type="application/json",
                headers={"Authorization": f"Bearer {w.bearer}"},
            ),
            400,
            "bad_request",
        ),
        "extra_field": (lambda: w.ask(good, extra="x"), 400, "bad_request"),
        "oversized": (lambda: w.ask("x" * 70_000), 413, "request_entity_too_large"),
    }


def _unknown(w: World) -> str:
    """A valid ID number of nobody in the database."""
    providers = generate_providers(99)
    (other,) = generate_subjects(1, 99, providers, container(w.app).catalog, today=TODAY)
    return other.id_number


CASES = [
    "forged",
    "forged_other_card",
    "unknown_subject",
    "expired",
    "other_institution",
    "other_purpose",
    "other_subject",
    "purpose_outside_list",
    "bad_check_character",
    "malformed_token",
    "malformed_body",
    "extra_field",
    "oversized",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_logged_as_denied_and_releases_nothing(
    world: World, case: str
) -> None:
    send, status, error = _cases(world)[case]
    before = world.balance()
    response = send()
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"] == error
    assert "sections" not in response.get_json()
    assert world.balance() == before
    with container(world.app).sessions() as db:
        assert db.scalars(select(Consent.uses).where(Consent.uses > 0)).all() == []
    entries = world.log()
    if status != 413:  # the server never read an oversized body
        assert [e.decision for e in entries] == ["denied"]
        assert entries[0].fee_fen == 0
        assert entries[0].fields_released == ""


def test_unknown_subject_and_foreign_signature_look_the_same(world: World) -> None:
    cases = _cases(world)
    bodies = {name: cases[name][0]().get_json() for name in ("forged", "unknown_subject")}
    assert bodies["forged"] == bodies["unknown_subject"]


def test_used_up_replayed_and_revoked_tokens_are_refused(world: World) -> None:
    alice = world.alice
    once = token_for(alice, world.bank, PURPOSE, max_uses=1, jti="once-0123456789abcdef")
    assert world.ask(once).status_code == 200
    again = world.ask(once)
    assert (again.status_code, again.get_json()["error"]) == (403, "used_up")
    other = token_for(alice, world.bank, PURPOSE, max_uses=5, jti="once-0123456789abcdef")
    replay = world.ask(other)
    assert (replay.status_code, replay.get_json()["error"]) == (403, "replayed")

    token = token_for(alice, world.bank, PURPOSE, max_uses=5)
    assert world.ask(token).status_code == 200
    subject, csrf = logged_in(world.app, alice.account, frozenset({"password", "card"}))
    jti = subject.get("/api/v1/self/consents").get_json()["consents"]
    jti = next(c["jti"] for c in jti if c["max_uses"] == 5 and c["uses"] == 1)
    revoked = subject.post(f"/api/v1/self/consents/{jti}/revoke", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200
    after = world.ask(token)
    assert (after.status_code, after.get_json()["error"]) == (403, "revoked")
    assert world.uses(jti) == 1
    assert [e.decision for e in world.log()] == ["allowed", "denied", "denied", "allowed", "denied"]


def test_insufficient_funds_is_402_and_counts_no_use(world: World) -> None:
    with container(world.app).unit() as db:
        LedgerService().debit(
            db, institution_id=world.bank_id, amount_fen=world.balance(), reference="drain"
        )
    token = token_for(world.alice, world.bank, PURPOSE)
    response = world.ask(token)
    assert (response.status_code, response.get_json()["error"]) == (402, "payment_required")
    with container(world.app).sessions() as db:
        assert db.scalars(select(Consent.uses)).all() in ([], [0])
    (entry,) = world.log()
    assert (entry.decision, entry.reason, entry.fee_fen) == ("denied", "insufficient_funds", 0)


@pytest.mark.parametrize("purpose", [{"code": PURPOSE}, [PURPOSE], 7, None, True])
def test_a_purpose_that_is_not_a_string_is_bad_input_logged_as_denied(
    world: World, purpose: Any
) -> None:
    token = token_for(world.alice, world.bank, PURPOSE)
    response = world.ask(token, purpose=purpose)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    entry = world.log()[-1]
    assert (entry.decision, entry.reason, entry.purpose) == ("denied", "malformed_body", None)


def test_a_forged_token_is_never_logged_under_the_jti_its_sender_wrote(world: World) -> None:
    claims = claims_for(world.alice, world.bank, PURPOSE)
    forged = sign_token(SoftCard.ec(), world.alice.kid, claims)  # another key, alice's kid
    response = world.ask(forged)
    assert response.status_code == 404
    entry = world.log()[-1]
    assert (entry.decision, entry.reason, entry.consent_jti) == ("denied", "forged_signature", None)


def test_a_refused_token_whose_signature_verified_is_logged_under_its_jti(world: World) -> None:
    claims = claims_for(
        world.alice, world.bank, PURPOSE, now=utcnow() - timedelta(days=40), days=30
    )
    expired = sign_token(world.alice.card, world.alice.kid, claims)
    response = world.ask(expired)
    assert (response.status_code, response.get_json()["error"]) == (403, "expired")
    entry = world.log()[-1]
    assert (entry.reason, entry.consent_jti) == ("expired", claims["jti"])
