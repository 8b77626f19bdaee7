"""`POST /api/v1/government/reports` end to end on both backends: an agency registered for some
administrative purposes queries on a legal basis; the answer holds the purpose's categories
only, masked as for institutions; every attempt is one entry recording the legal basis; the
compliance review lists those entries; the subject sees the agency, the purpose and the legal
basis among their query records; and the log still verifies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry
from app.services.government.agencies import GovernmentAgencies
from app.services.oauth.institutions import InstitutionError
from app.services.querylog.verify import verify_log
from app.services.reports.assembly import SECTION_BY_CATEGORY
from crypto.keys import SigningKey
from policies.identifiers import make_credit_code
from tests.consent_helpers import ingest_subjects
from tests.logins import logged_in, make_account
from tests.web.oauth_helpers import ec_key, get_token, public_pem, register

REPORTS = "/api/v1/government/reports"
REVIEW = "/api/v1/review/government-queries"
PURPOSE = "government_procurement"  # categories A and D
BASIS = {"regulation": "government_procurement_law", "reference": "渝财采〔2026〕15号"}
HIRING = {"regulation": "civil_servant_recruitment", "reference": "渝人社〔2026〕3号"}
HOUSING = "重庆市住房和城乡建设委员会"
AGENCY = "重庆市财政局 Chongqing Finance Bureau"


@dataclass
class World:
    app: Flask
    client: FlaskClient
    id_number: str
    other_id: str
    agency: str
    bearer: str

    def ask(self, **changes: Any) -> Any:
        body: dict[str, Any] = {
            "id_number": self.id_number,
            "purpose": PURPOSE,
            "legal_basis": BASIS,
        }
        body.update(changes)
        return self.client.post(
            REPORTS, json=body, headers={"Authorization": f"Bearer {self.bearer}"}
        )

    def log(self) -> list[QueryLogEntry]:
        with container(self.app).sessions() as db:
            return list(db.scalars(select(QueryLogEntry).order_by(QueryLogEntry.seq)))


@pytest.fixture
def world(app: Flask) -> World:
    alice, bob = ingest_subjects(app, 2)
    key = ec_key()
    with container(app).unit() as db:
        view = GovernmentAgencies(container(app).policy.government_purposes).register(
            db,
            credit_code=make_credit_code("1", "1", "500000", "MB000001"),
            name=AGENCY,
            public_key_pem=public_pem(key),
            purposes=[PURPOSE, "tender_review"],
        )
    client = app.test_client()
    bearer = get_token(client, key, view.client_id)
    return World(app, client, alice.id_number, bob.id_number, view.client_id, bearer)


def test_the_report_holds_the_purposes_categories_and_logs_the_legal_basis(world: World) -> None:
    response = world.ask()
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["report"]["kind"] == "government"
    assert report["report"]["purpose"] == PURPOSE
    assert report["report"]["fee_fen"] == 0
    assert report["report"]["legal_basis"] == BASIS
    for category in ("B", "C"):  # not in the purpose
        assert report["sections"][SECTION_BY_CATEGORY[category]] == []
    assert world.id_number not in response.get_data(as_text=True)  # masked as for institutions
    (entry,) = world.log()
    assert (entry.action, entry.tier, entry.decision) == (
        "government:report:query",
        "government",
        "allowed",
    )
    assert (entry.actor_kind, entry.actor_ref, entry.purpose) == (
        "institution",
        world.agency,
        PURPOSE,
    )
    assert entry.legal_basis == "government_procurement_law:渝财采〔2026〕15号"
    assert entry.consent_jti is None
    assert entry.fee_fen == 0
    assert entry.subject_bidx is not None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"legal_basis": None}, "bad_legal_basis"),
        ({"legal_basis": {"regulation": "government_procurement_law"}}, "bad_legal_basis"),
        ({"legal_basis": {**BASIS, "reference": "x" * 101}}, "bad_legal_basis"),
        ({"legal_basis": {**BASIS, "reference": "no number"}}, "bad_legal_basis"),
        ({"legal_basis": {**BASIS, "regulation": "made_up_law"}}, "bad_legal_basis"),
        ({"legal_basis": "government_procurement_law:1"}, "bad_legal_basis"),
        ({"purpose": "loan_approval"}, "bad_purpose"),  # an institutional purpose
        ({"id_number": "110101199003070000"}, "bad_id_number"),
        ({"extra": 1}, "malformed_body"),
    ],
)
def test_a_missing_or_malformed_legal_basis_or_body_is_400_and_logged_denied(
    world: World, changes: dict[str, Any], reason: str
) -> None:
    response = world.ask(**changes)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_request"
    assert "made_up_law" not in body["message"]
    (entry,) = world.log()
    assert (entry.decision, entry.reason) == ("denied", reason)
    assert entry.fields_released == ""
    if reason == "bad_legal_basis":
        assert entry.legal_basis is None  # only a well-formed basis is recorded


@pytest.mark.parametrize(
    ("changes", "reason", "basis"),
    [
        ({"purpose": "civil_service_hiring", "legal_basis": HIRING},
         "purpose_not_registered", "civil_servant_recruitment:渝人社〔2026〕3号"),
        ({"legal_basis": {"regulation": "public_rental_housing", "reference": "渝住〔2026〕9号"}},
         "legal_basis_not_for_purpose", "public_rental_housing:渝住〔2026〕9号"),
    ],
)  # fmt: skip
def test_a_purpose_or_basis_outside_the_registration_is_refused_and_logged_denied(
    world: World, changes: dict[str, Any], reason: str, basis: str
) -> None:
    response = world.ask(**changes)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    (entry,) = world.log()
    assert (entry.decision, entry.reason, entry.legal_basis) == ("denied", reason, basis)
    assert entry.fields_released == ""


def test_an_unknown_subject_is_not_found_and_logged(world: World) -> None:
    from datetime import date

    from policies.identifiers import make_citizen_id

    unknown = make_citizen_id("500101", date(1980, 1, 1), 999)
    response = world.ask(id_number=unknown)
    assert response.status_code == 404
    (entry,) = world.log()
    assert (entry.decision, entry.reason) == ("denied", "no_such_subject")
    assert entry.legal_basis == "government_procurement_law:渝财采〔2026〕15号"


def test_only_agencies_hold_the_scope(app: Flask, world: World) -> None:
    bank_key = ec_key()
    bank = register(app, bank_key)  # institution scopes only
    bearer = get_token(world.client, bank_key, bank)
    response = world.client.post(
        REPORTS,
        json={"id_number": world.id_number, "purpose": PURPOSE, "legal_basis": BASIS},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert world.log() == []  # refused at the bearer check, before any query
    with container(app).unit() as db, pytest.raises(InstitutionError, match="unknown purpose"):
        GovernmentAgencies(container(app).policy.government_purposes).register(
            db,
            credit_code=make_credit_code("1", "1", "500000", "MB000002"),
            name="x",
            public_key_pem=public_pem(ec_key()),
            purposes=["marketing"],
        )


def test_compliance_officers_find_every_government_query(app: Flask, world: World) -> None:
    assert world.ask().status_code == 200
    assert world.ask(purpose="civil_service_hiring").status_code == 403
    officer = make_account(app, "officer.gov", kind="staff", roles=("compliance",))
    session, _ = logged_in(app, officer, frozenset({"password", "totp"}))
    response = session.get(REVIEW, query_string={"limit": "1"})
    assert response.status_code == 200, response.get_json()
    page = response.get_json()
    (newest,) = page["government_queries"]
    assert (newest["decision"], newest["reason"]) == ("denied", "purpose_not_registered")
    assert newest["agency"] == AGENCY
    older = session.get(REVIEW, query_string={"cursor": page["next_cursor"]}).get_json()
    (first,) = older["government_queries"]
    assert first["decision"] == "allowed"
    assert first["legal_basis"] == "government_procurement_law:渝财采〔2026〕15号"
    assert first["fields_released"]
    assert older["next_cursor"] is None
    text = response.get_data(as_text=True) + str(older)
    assert world.id_number not in text
    reads = [e for e in world.log() if e.action == "compliance:government_query:read"]
    assert [e.decision for e in reads] == ["allowed", "allowed"]  # the reading is logged
    html = session.get("/review/government-queries")
    assert html.status_code == 200
    assert "渝财采〔2026〕15号" in html.get_data(as_text=True)
    unexplained = session.get("/api/v1/review/disclosures/unexplained").get_json()
    assert unexplained["unexplained"] == []  # the cited legal basis explains the disclosure
    assert unexplained["scanned"] >= 1
    cashier = make_account(app, "cashier.gov", kind="staff", roles=("cashier",))
    other, _ = logged_in(app, cashier, frozenset({"password", "totp"}))
    assert other.get(REVIEW).status_code == 403
    assert other.get("/review/government-queries").status_code == 403


def test_the_subject_sees_the_agency_purpose_and_legal_basis(app: Flask, world: World) -> None:
    from tests.consent_helpers import subject_id_of

    assert world.ask().status_code == 200
    account = make_account(app, "alice.gov", subject_id=subject_id_of(app, world.id_number))
    session, _ = logged_in(app, account, frozenset({"password", "card"}))
    response = session.get("/api/v1/self/query-records")
    assert response.status_code == 200, response.get_json()
    (record,) = [
        r for r in response.get_json()["query_records"] if r["action"] == "government:report:query"
    ]
    assert record["requester"] == AGENCY
    assert record["purpose"] == PURPOSE
    assert record["legal_basis"] == "government_procurement_law:渝财采〔2026〕15号"


def test_a_log_mixing_government_and_other_entries_verifies(app: Flask, world: World) -> None:
    world.ask()
    world.ask(legal_basis=None)
    world.ask(purpose="civil_service_hiring")
    parts = container(app)
    with parts.snapshot() as db:
        report = verify_log(db, parts.key_provider.public_key_der(SigningKey.LOG_CHECKPOINT))
    assert report.problem is None
    assert report.entries == 3
    assert {e.legal_basis is None for e in world.log()} == {True, False}


def test_the_commands_register_list_and_review_agencies(
    app: Flask, world: World, tmp_path: Any
) -> None:
    key_file = tmp_path / "agency.pem"
    key_file.write_bytes(public_pem(ec_key()))
    runner = app.test_cli_runner()
    code = make_credit_code("1", "1", "500000", "MB000003")
    registered = runner.invoke(
        args=["government", "register", "--credit-code", code, "--name", HOUSING,
              "--public-key", str(key_file), "--purpose", "subsidised_housing"]
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    assert "scopes: government:report:query" in registered.output
    assert "purposes: subsidised_housing" in registered.output
    unknown = runner.invoke(
        args=["government", "register", "--credit-code", code, "--name", "x",
              "--public-key", str(key_file), "--purpose", "marketing"]
    )  # fmt: skip
    assert unknown.exit_code != 0
    listed = runner.invoke(args=["government", "list"])
    assert f"subsidised_housing  {HOUSING}" in listed.output
    assert f"{PURPOSE} tender_review  {AGENCY}" in listed.output
    world.ask()
    make_account(app, "officer.cli", kind="staff", roles=("compliance",))
    make_account(app, "cashier.cli", kind="staff", roles=("cashier",))
    refused = runner.invoke(args=["government", "queries", "--officer", "cashier.cli"])
    assert refused.exit_code != 0
    shown = runner.invoke(args=["government", "queries", "--officer", "officer.cli"])
    assert shown.exit_code == 0, shown.output
    assert "government_procurement_law:渝财采〔2026〕15号" in shown.output
    assert world.id_number not in shown.output
    assert [e.action for e in world.log()][-1] == "compliance:government_query:read"
    registrations = [e for e in world.log() if e.action == "operator:institution:register"]
    assert [(e.decision, e.reason) for e in registrations] == [("allowed", "registered_agency")]
