"""Institutions see disputes on the records they received (`GET /api/v1/institution/disputes`):
the institution report records which records it released, in the unit of its log entry; an
objection on one of them is listed with its stage and outcome, never with what anyone wrote;
an institution that received nothing, or received the record more than 30 days before the
objection, sees nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.container import container
from app.models import QueryLogEntry, ReleasedRecord
from tests.consent_helpers import token_for
from tests.web.oauth_helpers import ec_key, get_token, register
from tests.web.rights_helpers import registrar
from tests.web.self_helpers import client_for
from tests.web.test_institution_reports import PURPOSE, World, world  # noqa: F401 (fixture)

DISPUTES = "/api/v1/institution/disputes"


def _records(report: dict[str, object]) -> list[dict[str, object]]:
    sections = report["sections"]
    assert isinstance(sections, dict)
    return [r for name in ("identity", "financial", "special") for r in sections[name]]


def test_an_institution_sees_the_dispute_and_its_outcome_on_what_it_received(
    world: World,  # noqa: F811
) -> None:
    app = world.app
    report = world.ask(token_for(world.alice, world.bank, PURPOSE)).get_json()
    released = _records(report)
    assert released
    with container(app).sessions() as db:
        (seq,) = db.scalars(
            select(QueryLogEntry.seq).where(QueryLogEntry.action == "institution:report:query")
        ).all()
        rows = db.execute(select(ReleasedRecord.log_seq, ReleasedRecord.record_id)).all()
    assert {str(record_id) for _, record_id in rows} == {str(r["id"]) for r in released}
    assert {log_seq for log_seq, _ in rows} == {seq}  # the entry that released them
    target = str(released[0]["id"])
    subject, headers = client_for(app, world.alice.account)
    filed = subject.post(
        "/api/v1/self/objections",
        json={"record_id": target, "text": "这笔记录不是我的。"},
        headers=headers,
    )
    assert filed.status_code == 201, filed.get_json()
    again = world.ask(token_for(world.alice, world.bank, PURPOSE)).get_json()
    (marked,) = [r for r in _records(again) if r["id"] == target]
    assert marked["objection"]["under_objection"] is True  # institution reports show it too
    assert "text" not in marked["objection"]
    bank = {"Authorization": f"Bearer {world.bearer}"}
    (dispute,) = world.client.get(DISPUTES, headers=bank).get_json()["disputes"]
    assert (dispute["record_id"], dispute["under_objection"], dispute["stage"]) == (
        target,
        True,
        "objection",
    )
    assert "text" not in dispute
    assert "reason" not in dispute
    # a bank that never received the record sees nothing
    other_key = ec_key()
    other = register(app, other_key)
    other_bearer = get_token(world.client, other_key, other)
    assert (
        world.client.get(DISPUTES, headers={"Authorization": f"Bearer {other_bearer}"}).get_json()[
            "disputes"
        ]
        == []
    )
    # the registrar's answer reaches the bank
    desk, staff = registrar(app)
    objection_id = filed.get_json()["objection"]["id"]
    answered = desk.post(
        f"/api/v1/registry/objections/{objection_id}/resolve",
        json={"outcome": "upheld", "reason": "核实无误。"},
        headers=staff,
    )
    assert answered.status_code == 200
    (after,) = world.client.get(DISPUTES, headers=bank).get_json()["disputes"]
    assert (after["under_objection"], after["outcome"]) == (False, "upheld")
    # received more than 30 days before the objection: not this bank's dispute
    with container(app).unit() as db:
        for row in db.scalars(select(ReleasedRecord)):
            row.released_at = row.released_at - timedelta(days=31)
    assert world.client.get(DISPUTES, headers=bank).get_json()["disputes"] == []
    # no bearer: refused
    assert world.client.get(DISPUTES).status_code == 401
