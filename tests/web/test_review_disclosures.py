"""Every disclosure explained (ARCHITECTURE §10): by the subject, a paid order, a consent token
or a legal basis; a report lists those nothing explains; a consent's signature is verified
again from the console. SQLite and PostgreSQL.

After the normal flows the report is empty. Entries made by hand through the log's own append
path, with nothing to explain them, are listed (API, page, `flask review unexplained`), each
with what is missing.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from app.container import container
from app.models import Consent
from app.services.querylog.log import QueryAttempt
from app.services.review.explain import (
    ACTION_LEGAL_BASES,
    ENTRY_LEGAL_BASIS_COLUMN,
    EXPLAINED_BY,
    Kind,
    _by_legal_basis,
    _kinds,
)
from tests.consent_helpers import claims_for, sign_token
from tests.logins import make_account
from tests.web.review_helpers import Flows, log_rows, officer, run_flows
from tests.web.test_card_login import SoftCard


@pytest.fixture
def flows(app: Flask) -> Flows:
    return run_flows(app)


def _append(app: Flask, **fields: Any) -> int:
    """An entry written through the log's normal append path."""
    parts = container(app)
    values: dict[str, Any] = {
        "decision": "allowed",
        "reason": "made_by_hand",
        "actor_kind": "staff",
        "actor_ref": str(uuid.uuid4()),
        "request_id": "hand-made",
        "client_address": "127.0.0.1",
        **fields,
    }
    with parts.unit() as db:
        return parts.query_log().append(db, QueryAttempt(**values)).seq


def test_the_normal_flows_leave_nothing_unexplained(app: Flask, flows: Flows) -> None:
    wu = officer(app)
    answer = wu.client.get("/api/v1/review/disclosures/unexplained")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"unexplained": [], "scanned": 5, "next_cursor": None}
    (entry,) = [row for row in log_rows(app) if row.action == "compliance:disclosure:read"]
    assert (entry.decision, entry.actor_ref) == ("allowed", wu.account_id)


def test_disclosures_made_by_hand_are_listed_with_what_is_missing(app: Flask, flows: Flows) -> None:
    bidx = hashlib.sha256(b"someone").digest()
    no_consent = _append(
        app,
        action="institution:report:query",
        actor_kind="institution",
        actor_ref=flows.bank,
        subject_bidx=bidx,
        purpose="loan_approval",
        fields_released=("B.loan.lender",),
    )
    staff_self = _append(app, action="self:report:read", subject_bidx=bidx)
    no_order = _append(
        app,
        action="archive:report:read",
        actor_kind="subject",
        actor_ref=str(flows.alice.account.id),
        subject_bidx=bidx,
    )
    unbound = _append(app, action="billing:ledger:read", fields_released=("B.loan.lender",))
    wrong_subject = _append(
        app,
        action="institution:report:query",
        actor_kind="institution",
        actor_ref=flows.bank,
        subject_bidx=bidx,
        purpose="loan_approval",
        consent_jti=flows.consent_jti,
    )
    not_disclosing = _append(app, action="billing:ledger:read")  # releases nothing
    wu = officer(app)
    report = wu.client.get("/api/v1/review/disclosures/unexplained").get_json()
    listed = {line["seq"]: line["problem"] for line in report["unexplained"]}
    assert listed == {
        no_consent: "no_consent",
        staff_self: "not_the_subjects_own_account",
        no_order: "no_paid_order",
        unbound: "no_explanation_for_action",
        wrong_subject: "consent_for_another_subject",
    }
    assert not_disclosing not in listed
    assert report["scanned"] == 10

    first = wu.client.get("/api/v1/review/disclosures/unexplained?limit=2").get_json()
    assert [line["seq"] for line in first["unexplained"]] == [no_consent, staff_self]
    rest = wu.client.get(
        f"/api/v1/review/disclosures/unexplained?cursor={first['next_cursor']}"
    ).get_json()
    assert [line["seq"] for line in rest["unexplained"]] == [no_order, unbound, wrong_subject]
    assert rest["next_cursor"] is None

    entry = wu.client.get(f"/api/v1/review/log/entries/{no_consent}").get_json()
    assert entry["explanation"] == {
        "explained": False, "kind": None, "reference": None, "problem": "no_consent",
    }  # fmt: skip
    page = wu.client.get("/review/disclosures").get_data(as_text=True)
    assert page.count('class="unexplained"') == 5
    runner = app.test_cli_runner()
    make_account(app, "officer.cron", kind="staff", roles=("compliance",))
    cron = runner.invoke(args=["review", "unexplained", "--officer", "officer.cron"])
    assert cron.exit_code == 1
    assert f"{no_consent}\t" in cron.output
    assert "no_consent" in cron.output
    assert "5 unexplained disclosure(s)" in cron.output


def test_a_period_and_bad_input(app: Flask, flows: Flows) -> None:
    wu = officer(app)
    old = wu.client.get("/api/v1/review/disclosures/unexplained?from=2001-01-01&to=2001-01-31")
    assert old.get_json() == {"unexplained": [], "scanned": 0, "next_cursor": None}
    for query in ("from=soon", "cursor=x", "limit=501", "from=2026-02-01&to=2026-01-01"):
        bad = wu.client.get(f"/api/v1/review/disclosures/unexplained?{query}")
        assert bad.status_code == 400, query
    denied = [row for row in log_rows(app) if row.action == "compliance:disclosure:read"]
    assert [row.decision for row in denied] == ["allowed"] + ["denied"] * 4


# --- the consent, verified again ----------------------------------------------------------------


def _verify(app: Flask, jti: str) -> Any:
    return officer(app, f"officer.{uuid.uuid4().hex[:6]}").client.get(
        f"/api/v1/review/consents/{jti}/verification"
    )


def _set_token(app: Flask, jti: str, token: str | None, *, rehash: bool) -> None:
    values: dict[str, Any] = {"token": token}
    if rehash and token is not None:
        values["token_sha256"] = hashlib.sha256(token.encode("ascii")).digest()
    with container(app).unit() as db:
        db.execute(update(Consent).where(Consent.jti == jti).values(**values))


def test_a_consent_signature_is_verified_again_under_the_subjects_card(
    app: Flask, flows: Flows
) -> None:
    valid = _verify(app, flows.consent_jti)
    assert valid.status_code == 200, valid.get_json()
    body = valid.get_json()
    assert body["verdict"] == "signature_valid"
    assert body["card"] == {"status": "active", "revoked_at": None}
    assert body["consent"]["institution"] == flows.bank
    assert body["consent"]["uses"] == 1
    assert flows.consent_token not in valid.get_data(as_text=True)
    (entry,) = [row for row in log_rows(app) if row.action == "compliance:consent:verify"]
    assert (entry.decision, entry.reason, entry.consent_jti) == (
        "allowed", "signature_valid", flows.consent_jti,
    )  # fmt: skip
    assert entry.subject_bidx is not None

    header, payload, _signature = flows.consent_token.split(".")
    other = sign_token(SoftCard.ec(), flows.alice.kid, claims_for(flows.alice, flows.bank, "x"))
    forged = f"{header}.{payload}.{other.split('.')[2]}"
    _set_token(app, flows.consent_jti, forged, rehash=False)
    assert _verify(app, flows.consent_jti).get_json()["verdict"] == "token_changed"
    _set_token(app, flows.consent_jti, forged, rehash=True)
    assert _verify(app, flows.consent_jti).get_json()["verdict"] == "forged_signature"
    stranger = sign_token(
        flows.alice.card,
        flows.alice.kid,
        claims_for(flows.alice, flows.bank, "tenancy_screening", jti=flows.consent_jti),
    )
    _set_token(app, flows.consent_jti, stranger, rehash=True)
    assert _verify(app, flows.consent_jti).get_json()["verdict"] == "claims_differ"
    _set_token(app, flows.consent_jti, None, rehash=False)
    assert _verify(app, flows.consent_jti).get_json()["verdict"] == "token_not_kept"

    unknown = _verify(app, "A" * 24)
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "not_found")
    malformed = _verify(app, "short")
    assert malformed.status_code == 400


# --- the legal basis: the extension point for government queries -----------------------------


def _row(action: str, **columns: Any) -> Any:
    mapping = {"seq": 1, "action": action, **columns}
    return SimpleNamespace(**mapping, _mapping=mapping, at=datetime.now(UTC))


def test_a_legal_basis_explains_by_the_action_or_by_the_entry_and_only_once() -> None:
    assert EXPLAINED_BY["public:list:search"] is Kind.LEGAL_BASIS
    public = _by_legal_basis(_row("public:list:search"))
    assert public.explanation is not None
    assert public.explanation.reference == ACTION_LEGAL_BASES["public:list:search"]
    # a government query citing a legal basis on its entry
    cited = _row("government:report:query", **{ENTRY_LEGAL_BASIS_COLUMN: "civil_service_law_19"})
    assert _kinds(cited) == [Kind.LEGAL_BASIS]
    explained = _by_legal_basis(cited)
    assert explained.explanation is not None
    assert explained.explanation.reference == "civil_service_law_19"
    assert EXPLAINED_BY["government:report:query"] is Kind.LEGAL_BASIS
    uncited = _row("government:report:query")  # no basis cited on the entry: unexplained
    assert _kinds(uncited) == [Kind.LEGAL_BASIS]
    assert _by_legal_basis(uncited).problem == "no_legal_basis"
    both = _row("institution:report:query", **{ENTRY_LEGAL_BASIS_COLUMN: "some_law"})
    assert _kinds(both) == [Kind.CONSENT, Kind.LEGAL_BASIS]  # explained twice: a defect
