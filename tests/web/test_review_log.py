"""Compliance officers search the query log and read its entries (API, pages, `flask review`).

The normal disclosing flows run first (own report, query records, a public-list search, an
institution's query under consent, a paid archive report). An officer then finds them by
subject (typing the ID number: only its blind index is used, and the number reaches no log
entry, answer or page), by actor, action, decision, consent and request id, a page at a time;
reads an entry (who, when, the decision and its rules, what explains it, the names of the
released fields, never a value); and every such reading is itself an entry. Everyone else is
refused, and the refusal is logged. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from app.container import container
from crypto.blind_index import BlindIndexKind, blind_index
from tests.logins import logged_in, make_account
from tests.web.review_helpers import CARD, STAFF, Flows, log_rows, officer, row_text, run_flows


@pytest.fixture
def flows(app: Flask) -> Flows:
    return run_flows(app)


def _bidx(app: Flask, number: str) -> str:
    return blind_index(container(app).key_provider, BlindIndexKind.CITIZEN_ID, number).hex()


def test_an_officer_finds_a_subjects_entries_by_id_number_and_the_number_is_never_kept(
    app: Flask, flows: Flows
) -> None:
    wu = officer(app)
    found = wu.search(subject=flows.alice.id_number)
    assert found.status_code == 200, found.get_json()
    page = found.get_json()
    bidx = _bidx(app, flows.alice.id_number)
    assert page["filters"] == {"subject_bidx": bidx, "limit": 50}
    actions = [entry["action"] for entry in page["entries"]]
    assert actions == [  # newest first
        "archive:report:read",
        "billing:order:confirm",  # the cashier's confirmation is about her order
        "archive:order:create",
        "institution:report:query",
        "public:list:search",
        "self:query_log:read",
        "self:report:read",
    ]
    assert all(entry["subject_bidx"] == bidx for entry in page["entries"])
    assert flows.alice.id_number not in found.get_data(as_text=True)

    rows = log_rows(app)
    (search,) = [row for row in rows if row.action == "compliance:log:search"]
    assert (search.decision, search.actor_kind, search.actor_ref) == (
        "allowed",
        "staff",
        wu.account_id,
    )
    assert search.subject_bidx is not None
    assert search.subject_bidx.hex() == bidx
    for row in rows:  # the number, the name and the token reach no entry
        text = row_text(row)
        for secret in (flows.alice.id_number, flows.name, flows.consent_token):
            assert secret not in text, f"entry {row.seq} holds a secret"

    # the echoed blind index pages on without the number being sent again; the first search
    # is now among the entries about her: who searched a subject is found like who queried
    again = wu.search(subject_bidx=bidx, limit=2).get_json()
    assert [e["action"] for e in again["entries"]] == ["compliance:log:search", actions[0]]
    older = wu.search(subject_bidx=bidx, limit=2, cursor=again["next_cursor"]).get_json()
    assert [e["action"] for e in older["entries"]] == actions[1:3]


def test_filters_by_actor_action_decision_consent_request_and_time(
    app: Flask, flows: Flows
) -> None:
    wu = officer(app)
    by_bank = wu.search(actor=flows.bank, actor_kind="institution").get_json()["entries"]
    assert [e["action"] for e in by_bank] == ["institution:report:query"]
    assert by_bank[0]["consent_id"] == flows.consent_jti
    assert by_bank[0]["purpose"] == "loan_approval"
    by_consent = wu.search(consent_id=flows.consent_jti).get_json()["entries"]
    assert [e["seq"] for e in by_consent] == [by_bank[0]["seq"]]
    by_request = wu.search(request_id=by_bank[0]["request_id"]).get_json()["entries"]
    assert [e["seq"] for e in by_request] == [by_bank[0]["seq"]]
    by_name = wu.search(actor="alice").get_json()["entries"]  # a username names the account
    assert {e["action"] for e in by_name} == {
        "self:report:read",
        "self:query_log:read",
        "public:list:search",
    }
    downloads = wu.search(action="archive:report:read", decision="allowed").get_json()
    assert [e["fee_fen"] for e in downloads["entries"]] == [2000]
    tier = wu.search(tier="self").get_json()["entries"]
    assert {e["action"] for e in tier} == {"self:report:read", "self:query_log:read"}
    assert wu.search(**{"from": "2000-01-01", "to": "2000-12-31"}).get_json()["entries"] == []
    # the officer's own first searches are entries too, found like any other
    searches = wu.search(action="compliance:log:search").get_json()["entries"]
    assert len(searches) >= 7
    assert {e["actor_ref"] for e in searches} == {wu.account_id}


def test_every_entry_is_reached_by_keyset_pages(app: Flask, flows: Flows) -> None:
    wu = officer(app)
    total = len(log_rows(app))
    seen: list[int] = []
    cursor = None
    while True:
        sent: dict[str, Any] = {"limit": 3, "action": "self:report:read"}
        sent = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = wu.search(**sent).get_json()
        seen.extend(entry["seq"] for entry in page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) >= total  # every entry once (the searches add more)


def test_an_entry_shows_the_decision_its_rules_its_explanation_and_field_names_only(
    app: Flask, flows: Flows
) -> None:
    wu = officer(app)
    (query,) = wu.search(action="institution:report:query").get_json()["entries"]
    answer = wu.client.get(f"/api/v1/review/log/entries/{query['seq']}")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    entry = body["entry"]
    assert entry["rule_ids"] == ["institution-report-under-consent"]
    assert entry["actor_name"]  # the institution's name
    assert entry["fields_released"]
    assert all("." in name for name in entry["fields_released"])
    assert body["explanation"] == {
        "explained": True,
        "kind": "consent",
        "reference": flows.consent_jti,
        "problem": None,
    }
    text = answer.get_data(as_text=True)
    released = flows.answers[2]
    for section in released["sections"].values():
        for record in section:
            for value in record.get("fields", {}).values():
                if isinstance(value, str) and not value.isascii() and "*" not in value:
                    assert value not in text  # names, addresses, employers: never shown
    (viewed,) = [row for row in log_rows(app) if row.action == "compliance:log:read"]
    assert viewed.decision == "allowed"
    assert viewed.subject_bidx is not None

    (own,) = wu.search(action="self:report:read").get_json()["entries"]
    mine = wu.client.get(f"/api/v1/review/log/entries/{own['seq']}").get_json()
    assert mine["explanation"]["kind"] == "subject"
    (download,) = wu.search(action="archive:report:read").get_json()["entries"]
    bought = wu.client.get(f"/api/v1/review/log/entries/{download['seq']}").get_json()
    assert bought["explanation"]["kind"] == "order"
    assert bought["explanation"]["reference"] == flows.order_id
    (order,) = wu.search(action="archive:order:create").get_json()["entries"]
    priced = wu.client.get(f"/api/v1/review/log/entries/{order['seq']}").get_json()
    assert priced["explanation"] is None  # an order prices, it discloses nothing
    missing = wu.client.get("/api/v1/review/log/entries/99999999")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")
    huge = wu.client.get(f"/api/v1/review/log/entries/{2**70}")
    assert huge.status_code == 404


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ({"subject": "110105194912310021"}, "invalid_id_number"),  # wrong check character
        ({"subject": "not a number"}, "invalid_id_number"),
        ({"nonsense": "x"}, "bad_request"),
        ({"decision": "maybe"}, "bad_request"),
        ({"action": "self:everything:read"}, "bad_request"),
        ({"from": "yesterday"}, "bad_request"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "bad_request"),
        ({"cursor": "-1"}, "bad_request"),
        ({"limit": 0}, "bad_request"),
        ({"subject_bidx": "00"}, "bad_request"),
        ({"limit": True}, "bad_request"),
    ],
)
def test_bad_filters_are_refused_logged_and_never_echoed(
    app: Flask, sent: dict[str, Any], reason: str
) -> None:
    wu = officer(app)
    refused = wu.search(**sent)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "bad_request"
    for value in sent.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in refused.get_json()["message"]
    (entry,) = [row for row in log_rows(app) if row.action == "compliance:log:search"]
    assert (entry.decision, entry.reason, entry.subject_bidx) == ("denied", reason, None)
    assert "110105194912310021" not in row_text(entry)


def test_a_body_that_is_not_an_object_is_refused(app: Flask) -> None:
    wu = officer(app)
    for body in ("[1, 2]", "not json"):
        answer = wu.client.post(
            "/api/v1/review/log/search",
            data=body,
            content_type="application/json",
            headers=wu.headers,
        )
        assert answer.status_code == 400


def test_only_compliance_officers_with_password_and_totp_may_review(app: Flask) -> None:
    subject = make_account(app, "nosy.subject")
    cashier = make_account(app, "cashier.q", kind="staff", roles=("cashier",))
    callers = {
        "subject": logged_in(app, subject, CARD),
        "cashier": logged_in(app, cashier, STAFF),
        "officer_password_only": (lambda o: (o.client, o.headers["X-CSRF-Token"]))(
            officer(app, "officer.weak", frozenset({"password"}))
        ),
    }
    requests = [
        ("post", "/api/v1/review/log/search"),
        ("get", "/api/v1/review/log/entries/1"),
        ("get", "/api/v1/review/disclosures/unexplained"),
        ("get", "/api/v1/review/consents/abcdefghijklmnopqrst/verification"),
        ("get", "/api/v1/review/flags"),
    ]
    for name, (client, csrf) in callers.items():
        for method, path in requests:
            answer = getattr(client, method)(path, json={}, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 403, (name, path)
            expected = "step_up_required" if name == "officer_password_only" else "forbidden"
            assert answer.get_json()["error"] == expected, (name, path)
    anonymous = app.test_client()
    for method, path in requests:
        assert getattr(anonymous, method)(path, json={}).status_code == 401
    compliance = [row for row in log_rows(app) if row.tier == "compliance"]
    assert len(compliance) == 3 * len(requests)
    assert {row.decision for row in compliance} == {"denied"}


# --- pages -----------------------------------------------------------------------------------


def test_the_search_page_takes_the_number_by_form_and_never_shows_or_links_it(
    app: Flask, flows: Flows
) -> None:
    wu = officer(app)
    first = wu.client.get("/review/log")
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    assert 'id="entries"' in first.get_data(as_text=True)
    posted = wu.client.post(
        "/review/log",
        data={"subject": flows.alice.id_number, "limit": "2",
              "csrf_token": wu.headers["X-CSRF-Token"]},
    )  # fmt: skip
    html = posted.get_data(as_text=True)
    assert posted.status_code == 200, html
    assert flows.alice.id_number not in html
    assert _bidx(app, flows.alice.id_number) in html
    assert 'id="next-page"' in html
    assert "subject_bidx=" in html
    linked = wu.client.get(f"/review/log?subject={flows.alice.id_number}")
    assert linked.status_code == 400
    assert flows.alice.id_number not in linked.get_data(as_text=True)
    (query,) = wu.search(action="institution:report:query").get_json()["entries"]
    page = wu.client.get(f"/review/log/{query['seq']}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="consent-link"' in text
    assert "institution-report-under-consent" in text
    assert wu.client.get("/review/log/99999999").status_code == 404
    checked = wu.client.get(f"/review/consents/{flows.consent_jti}")
    assert checked.status_code == 200
    assert "signature_valid" in checked.get_data(as_text=True)
    report = wu.client.get("/review/disclosures")
    assert report.status_code == 200
    assert 'id="none-unexplained"' in report.get_data(as_text=True)


def test_pages_refuse_anyone_but_an_officer(app: Flask) -> None:
    cashier = make_account(app, "cashier.q", kind="staff", roles=("cashier",))
    client, _ = logged_in(app, cashier, STAFF)
    for path in ("/review/log", "/review/log/1", "/review/disclosures", "/review/consents/x",
                 "/review/flags"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 403, path
    assert app.test_client().get("/review/log").status_code == 302  # to the login page


# --- flask review ----------------------------------------------------------------------------


def test_the_commands_search_read_and_check_as_the_named_officer(app: Flask, flows: Flows) -> None:
    wu = make_account(app, "officer.cli", kind="staff", roles=("compliance",))
    runner = app.test_cli_runner()
    found = runner.invoke(
        args=["review", "search", "--officer", "officer.cli", "--ask-subject", "--limit", "3"],
        input=flows.alice.id_number + "\n",
    )
    assert found.exit_code == 0, found.output
    assert flows.alice.id_number not in found.output
    page = json.loads(found.output[found.output.index("{") :])
    assert next(e["action"] for e in page["entries"]) == "archive:report:read"
    seq = page["entries"][0]["seq"]
    shown = runner.invoke(args=["review", "entry", "--officer", "officer.cli", str(seq)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["explanation"]["kind"] == "order"
    checked = runner.invoke(
        args=["review", "verify-consent", "--officer", "officer.cli", flows.consent_jti]
    )
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["verdict"] == "signature_valid"
    clean = runner.invoke(args=["review", "unexplained", "--officer", "officer.cli"])
    assert clean.exit_code == 0, clean.output
    refused = runner.invoke(args=["review", "search", "--officer", "cashier.zhao"])
    assert refused.exit_code == 1
    assert "forbidden" in refused.output
    nobody = runner.invoke(args=["review", "search", "--officer", "nobody"])
    assert nobody.exit_code == 1
    mine = [row for row in log_rows(app) if row.actor_ref == str(wu.id)]
    assert [row.action for row in mine] == [
        "compliance:log:search",
        "compliance:log:read",
        "compliance:consent:verify",
        "compliance:disclosure:read",
    ]
    assert all(row.client_address == "cli" for row in mine)
