"""Searching the public lists over HTTP: by name or ID number, masked, displayed records only,
a daily limit per account, bad input refused, every attempt logged, one HMAC per search."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from app.container import container
from app.models import DailyUse, PublicListEntry
from tests.clocks import MovableClock
from tests.logins import make_account
from tests.services.report_helpers import (
    Person,
    citizen_id,
    dishonest,
    ingest,
    loan,
    penalty,
)
from tests.web.self_helpers import client_for, entries, subject_account

TODAY = date(2026, 11, 21)
SEARCH = "/api/v1/public/lists/search"
ACTION = "public:list:search"
ZHANG_1 = citizen_id(201)
ZHANG_2 = citizen_id(202, date(1990, 7, 1))
LI = citizen_id(203)
QUIET = citizen_id(204)


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def searcher(app: Flask) -> Any:
    ingest(
        app,
        [
            Person(
                ZHANG_1, "张伟", (penalty(date(2026, 6, 1), serious=False), loan(date(2020, 1, 1)))
            ),
            Person(ZHANG_2, "张伟", (dishonest(date(2025, 3, 1), None),)),
            Person(
                LI, "李娜", (penalty(date(2022, 1, 5), serious=True),)
            ),  # shown until 2025-01-04
            Person(QUIET, "周静", (loan(date(2021, 4, 4)),)),
        ],
        today=date(2024, 1, 1),
    )
    account, _ = subject_account(app, Person(citizen_id(205), "查询人"), today=TODAY)
    return account


def _search(app: Flask, account: Any, body: Any, methods: Any = None) -> Any:
    client, headers = client_for(app, account, *(() if methods is None else (methods,)))
    return client.post(SEARCH, json=body, headers=headers)


def test_a_name_search_finds_every_listed_namesake_masked(app: Flask, searcher: Any) -> None:
    response = _search(app, searcher, {"name": " 张 伟 "})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    by_id = {r["subject"]["id_number"]: r for r in results}
    assert set(by_id) == {
        ZHANG_1[:6] + "********" + ZHANG_1[-4:],
        ZHANG_2[:6] + "********" + ZHANG_2[-4:],
    }
    first = by_id[ZHANG_1[:6] + "********" + ZHANG_1[-4:]]
    assert first["subject"]["name"] == "张伟"
    [record] = first["records"]  # the loan is not public: never shown here
    assert record["type"] == "D.penalty_general"
    assert record["fields"]["facts"] == "***"
    assert record["masked"] == {"facts": "redact"}
    assert record["fields"]["decision_number"] == "渝中市监罚〔2025〕101号"
    body = response.get_data(as_text=True)
    assert ZHANG_1 not in body
    assert ZHANG_2 not in body
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.subject_bidx) == ("allowed", None)
    assert "D.penalty_general.decision_number" in entry.fields_released.split(",")


def test_an_id_search_finds_that_subject_and_logs_its_blind_index(
    app: Flask, searcher: Any
) -> None:
    response = _search(app, searcher, {"id_number": ZHANG_2.lower()})
    assert response.status_code == 200
    [result] = response.get_json()["results"]
    assert [r["type"] for r in result["records"]] == ["D.dishonest_debtor"]
    assert ZHANG_2 not in response.get_data(as_text=True)
    [entry] = entries(app, ACTION)
    assert entry.subject_bidx is not None
    assert len(entry.subject_bidx) == 32


def test_records_past_their_display_period_and_unlisted_subjects_are_not_found(
    app: Flask, searcher: Any
) -> None:
    for body in ({"name": "李娜"}, {"id_number": QUIET}, {"name": "无此人"}):
        response = _search(app, searcher, body)
        assert response.status_code == 200
        assert response.get_json()["results"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"id_number": ZHANG_1[:-1] + ("0" if ZHANG_1[-1] != "0" else "1")}, "check"),
        ({"id_number": "12345"}, "ID number"),
        ({"name": "张伟", "id_number": ZHANG_1}, "exactly one"),
        ({}, "exactly one"),
        ({"name": ""}, "non-empty"),
        ({"name": "x" * 101}, "at most 100"),
        ({"name": 7}, "non-empty"),
        ({"name": "张伟", "limit": 5}, "exactly one"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_input_is_refused_clearly_logged_and_not_counted(
    app: Flask, searcher: Any, body: Any, fragment: str
) -> None:
    response = _search(app, searcher, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert fragment in response.get_json()["message"]
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.reason) == ("denied", "bad_request")
    with container(app).sessions() as db:
        assert db.scalar(select(func.count()).select_from(DailyUse)) == 0


def test_an_oversized_body_is_refused_and_logged(app: Flask, searcher: Any) -> None:
    response = _search(app, searcher, {"name": "张" * 70_000})
    assert response.status_code == 413
    [entry] = entries(app, ACTION)
    assert entry.reason == "body_too_large"


def test_the_daily_limit_holds_and_resets_the_next_day(
    app: Flask, searcher: Any, clock: MovableClock
) -> None:
    limit = container(app).policy.public_list_searches_per_day
    with container(app).unit() as db:
        db.add(DailyUse(account_id=searcher.id, action=ACTION, day=TODAY, used=limit - 1))
    assert _search(app, searcher, {"name": "张伟"}).status_code == 200
    over = _search(app, searcher, {"name": "张伟"})
    assert over.status_code == 429
    assert over.get_json()["error"] == "daily_limit_reached"
    assert "results" not in over.get_json()
    assert [e.reason for e in entries(app, ACTION)][-1] == "daily_limit_reached"
    clock.move_to_day(date(2026, 11, 22))
    assert _search(app, searcher, {"name": "张伟"}).status_code == 200


def test_an_id_search_over_the_limit_logs_whom_it_was_after(app: Flask, searcher: Any) -> None:
    """The refused search is not run, but its entry names the searched ID's blind index (the
    same as an allowed search of it would), so the compliance review sees whom it targeted."""
    assert _search(app, searcher, {"id_number": ZHANG_2}).status_code == 200
    limit = container(app).policy.public_list_searches_per_day
    with container(app).unit() as db:
        db.execute(update(DailyUse).values(used=limit))
    over = _search(app, searcher, {"id_number": ZHANG_2})
    assert over.status_code == 429
    assert "results" not in over.get_json()
    allowed, refused = entries(app, ACTION)
    assert (allowed.decision, refused.reason) == ("allowed", "daily_limit_reached")
    assert refused.subject_bidx is not None
    assert refused.subject_bidx == allowed.subject_bidx
    assert _search(app, searcher, {"name": "张伟"}).status_code == 429
    assert entries(app, ACTION)[-1].subject_bidx is None  # a name search names no subject


@pytest.mark.parametrize(
    ("kind", "methods", "error"),
    [
        ("subject", frozenset({"password"}), "step_up_required"),
        ("staff", frozenset({"password", "totp", "card"}), "forbidden"),
        ("institution", frozenset({"password", "card"}), "forbidden"),
    ],
)
def test_weak_logins_staff_and_institutions_are_refused_and_logged(
    app: Flask, searcher: Any, kind: str, methods: frozenset[str], error: str
) -> None:
    account = make_account(app, f"{kind}-{uuid.uuid4().hex[:6]}", kind=kind)
    response = _search(app, account, {"name": "张伟"}, methods)
    assert response.status_code == 403
    assert response.get_json()["error"] == error
    [entry] = entries(app, ACTION)
    assert (entry.decision, entry.actor_kind) == ("denied", kind)


def test_a_search_costs_one_hmac(
    app: Flask, searcher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = container(app).key_provider
    calls: list[str] = []
    original = type(provider).hmac_sha256

    def counting(self: Any, key: Any, message: bytes) -> bytes:
        calls.append(hashlib.sha256(message).hexdigest())
        return original(self, key, message)

    client, headers = client_for(app, searcher)  # the login itself may use the HSM
    monkeypatch.setattr(type(provider), "hmac_sha256", counting)
    assert client.post(SEARCH, json={"name": "张伟"}, headers=headers).status_code == 200
    assert len(calls) == 1


def test_flask_lists_rebuild_restores_the_index(app: Flask, searcher: Any) -> None:
    with container(app).unit() as db:
        db.execute(delete(PublicListEntry))
    assert _search(app, searcher, {"name": "张伟"}).get_json()["results"] == []
    result = app.test_cli_runner().invoke(args=["lists", "rebuild"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "indexed 3 public-list records"
    assert "张伟" not in result.output
    assert len(_search(app, searcher, {"name": "张伟"}).get_json()["results"]) == 2
