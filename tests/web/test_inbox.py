"""The subject's inbox (`GET /api/v1/self/inbox`, `GET /inbox`): answers to their objections,
prior notices of negative records, list removals and each use of their consents, newest first;
nothing in a message beyond what the subject's own pages show; one log entry per read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from app.container import container
from app.models import ListChange, ListPublication, QueryLogEntry
from tests.clocks import MovableClock
from tests.consent_helpers import token_for
from tests.services.report_helpers import citizen_id
from tests.web.intake_helpers import TODAY, judgment, register_provider
from tests.web.rights_helpers import Holder, holder_of, registrar
from tests.web.self_helpers import client_for
from tests.web.test_institution_reports import PURPOSE, World, world  # noqa: F401 (fixture)

INBOX = "/api/v1/self/inbox"


@pytest.fixture
def holder(app: Flask, clock: MovableClock) -> Holder:
    clock.move_to_day(TODAY)
    court = register_provider(app)
    return holder_of(app, court, 441, [judgment(court, "I-1", 441)])


def _removed_from_the_blacklist(app: Flask, holder: Holder) -> None:
    at = datetime(2026, 12, 3, 9, tzinfo=UTC)
    with container(app).unit() as db:
        change = ListChange(
            list="black",
            subject_id=holder.subject_id,
            change="add",
            rule_id="black-dishonest-debtor",
            basis="",
            proposed_at=at,
            decided_on=at.date(),
            status="approved",
            check_passed=True,
            check_detail="[]",
        )
        db.add(change)
        db.flush()
        db.add(
            ListPublication(
                list="black",
                subject_id=holder.subject_id,
                rule_id="black-dishonest-debtor",
                basis="",
                listed_on=at.date(),
                published_at=at,
                added_by_change=change.id,
                removed_at=at,
                name_bidx=b"n" * 32,
                id_bidx=b"i" * 32,
            )
        )


def test_the_inbox_gathers_answers_notices_and_removals(app: Flask, holder: Holder) -> None:
    empty = holder.client.get(INBOX).get_json()["messages"]
    assert [m["kind"] for m in empty] == ["prior_notice"]  # the judgment was notified first
    assert "2026-06-10" in empty[0]["text"]
    record_id = holder.record("D.civil_judgment")["id"]
    objection = holder.object_to(record_id, "我的秘密陈述").get_json()["objection"]
    desk, headers = registrar(app)
    desk.post(
        f"/api/v1/registry/objections/{objection['id']}/resolve",
        json={"outcome": "upheld", "reason": "登记员的理由"},
        headers=headers,
    )
    _removed_from_the_blacklist(app, holder)
    messages = holder.client.get(INBOX).get_json()["messages"]
    assert [m["kind"] for m in messages] == ["objection_outcome", "list_removal", "prior_notice"]
    assert "upheld" in messages[0]["text"]
    assert "失信黑名单" in messages[1]["text"]
    shown = " ".join(m["text"] for m in messages)
    for secret in ("我的秘密陈述", "登记员的理由", "渝0103民初88号", citizen_id(441)):
        assert secret not in shown  # nothing beyond what the subject's own pages show
    page = holder.client.get("/inbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "异议答复 Objection answered" in html
    assert "移出名单 List removal" in html
    with container(app).sessions() as db:
        reads = db.scalars(
            select(QueryLogEntry.decision).where(QueryLogEntry.action == "self:inbox:read")
        ).all()
    assert reads == ["allowed", "allowed", "allowed"]
    assert desk.get(INBOX).status_code == 403  # staff have no inbox
    assert app.test_client().get("/inbox").status_code in (302, 401)


def test_each_use_of_a_consent_reaches_the_inbox(world: World) -> None:  # noqa: F811
    assert world.ask(token_for(world.alice, world.bank, PURPOSE)).status_code == 200
    client, _ = client_for(world.app, world.alice.account)
    (use,) = [m for m in client.get(INBOX).get_json()["messages"] if m["kind"] == "consent_use"]
    with container(world.app).sessions() as db:
        from app.models import Institution

        name = db.scalar(select(Institution.name).where(Institution.client_id == world.bank))
    assert name is not None
    assert name in use["text"]
    assert "贷款审批" in use["text"]
    bob, _ = client_for(world.app, world.bob.account)
    assert all(m["kind"] != "consent_use" for m in bob.get(INBOX).get_json()["messages"])
