"""Statistics for government: counts by provider, record type, tier and purpose, provider
timeliness and rejection rates; cells under 10 subjects suppressed with their complement."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry
from tests.clocks import MovableClock
from tests.logins import logged_in, make_account
from tests.web.intake_helpers import TODAY, jsonl, penalty_row, register_provider, submit
from tests.web.oauth_helpers import ec_key, get_token, register


@pytest.fixture(autouse=True)
def _today(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


def _load(app: Flask) -> None:
    client = app.test_client()
    for name, first, count in (("甲局", 700, 12), ("乙局", 720, 11), ("丙局", 740, 3)):
        provider = register_provider(app, kind="market_regulator", name=name)
        rows = [penalty_row(provider, f"P{first}-{n}", first + n) for n in range(count)]
        rows.append("{broken")
        submit(client, provider, jsonl(rows))


def _cells(table: dict[str, Any]) -> dict[str, int | None]:
    return {cell["key"].split(" ")[0]: cell["count"] for cell in table["cells"]}


def test_government_reads_aggregates_with_small_cells_suppressed(app: Flask) -> None:
    _load(app)
    client = app.test_client()
    key = ec_key()
    regulator = register(app, key, scopes=("statistics:read",))
    token = get_token(client, key, regulator)
    response = client.get(
        "/api/v1/statistics?from=2026-12-01&to=2026-12-04",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert _cells(body["records_by_provider"]) == {"甲局": 12, "乙局": None, "丙局": None}
    assert body["records_by_provider"]["total"]["count"] == 26
    assert _cells(body["records_by_type"]) == {"D.penalty_general": 26}
    timeliness = {c["key"].split(" ")[0]: c for c in body["provider_timeliness"]["cells"]}
    assert timeliness["甲局"]["mean_delay_days"] == 94.0  # 2026-09-01 -> 2026-12-04
    assert timeliness["甲局"]["timely_share"] == 0.0
    assert timeliness["丙局"]["mean_delay_days"] is None
    rejections = {r["provider"].split(" ")[0]: r for r in body["provider_rejections"]}
    assert (rejections["丙局"]["rows"], rejections["丙局"]["rejected"]) == (4, 1)
    assert rejections["丙局"]["rejection_rate"] == 0.25
    assert "测试" not in response.get_data(as_text=True)  # no subject is ever named
    with container(app).sessions() as db:
        reads = db.scalars(
            select(QueryLogEntry.actor_ref).where(
                QueryLogEntry.action == "statistics:aggregate:read"
            )
        ).all()
    assert list(reads) == [regulator]


def test_statistics_need_the_scope_or_the_officer_role(app: Flask) -> None:
    client = app.test_client()
    key = ec_key()
    bank = register(app, key, scopes=("institution:report:query",))
    token = get_token(client, key, bank)
    denied = client.get("/api/v1/statistics", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 403
    officer = make_account(app, "officer.stats", kind="staff", roles=("compliance",))
    session, _ = logged_in(app, officer, frozenset({"password", "totp"}))
    assert session.get("/api/v1/review/statistics").status_code == 200
    assert session.get("/api/v1/review/statistics?from=2026-01-01&to=2025-01-01").status_code == 400
    page = session.get("/review/statistics")
    assert page.status_code == 200
    assert "by-provider" in page.get_data(as_text=True)
    cashier = make_account(app, "cashier.stats", kind="staff", roles=("cashier",))
    other, _ = logged_in(app, cashier, frozenset({"password", "totp"}))
    assert other.get("/api/v1/review/statistics").status_code == 403


def _queries(app: Flask, action: str, purpose: str | None, subjects: int, **extra: Any) -> None:
    """`subjects` allowed queries of `action`, one per distinct subject (by blind index)."""
    import hashlib

    from app.services.querylog.log import QueryAttempt

    parts = container(app)
    with parts.unit() as db:
        for n in range(subjects):
            parts.query_log().append(
                db,
                QueryAttempt(
                    action=action,
                    decision="allowed",
                    reason="test",
                    actor_kind="institution",
                    actor_ref="inst-test",
                    request_id=f"r-{action}-{n}",
                    client_address="203.0.113.1",
                    subject_bidx=hashlib.sha256(f"{action}{n}".encode()).digest(),
                    purpose=purpose,
                    at=parts.clock.now(),
                    **extra,
                ),
            )


def test_queries_are_counted_by_tier_by_purpose_and_by_both(app: Flask) -> None:
    """Government queries count under their own tier and purpose; a cell of fewer than 10
    subjects is suppressed, and its complement with it."""
    basis = {"legal_basis": "civil_servant_recruitment:渝人社〔2026〕3号"}
    _queries(app, "government:report:query", "civil_service_hiring", 12, **basis)
    _queries(app, "government:report:query", "tender_review", 11, **basis)
    _queries(app, "institution:report:query", "loan_approval", 14)
    _queries(app, "institution:report:query", "tenancy_screening", 3)
    officer = make_account(app, "officer.counts", kind="staff", roles=("compliance",))
    session, _ = logged_in(app, officer, frozenset({"password", "totp"}))
    response = session.get("/api/v1/review/statistics")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert _cells(body["queries_by_tier"]) == {"government": 23, "institution": 17}
    both = _cells(body["queries_by_tier_and_purpose"])
    assert both["government:civil_service_hiring"] == 12
    assert both["institution:loan_approval"] == 14
    # 3 subjects: suppressed, and the smallest other cell with it (no recovery by subtraction)
    assert both["institution:tenancy_screening"] is None
    assert both["government:tender_review"] is None
    assert body["queries_by_tier_and_purpose"]["total"]["count"] == 40
    by_purpose = _cells(body["queries_by_purpose"])
    assert by_purpose["civil_service_hiring"] == 12
    assert by_purpose["tenancy_screening"] is None
    page = session.get("/review/statistics").get_data(as_text=True)
    assert "government:civil_service_hiring" in page
