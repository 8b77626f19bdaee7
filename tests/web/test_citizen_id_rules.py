"""The citizen ID number's two rules where they apply: a search, an order or a query about a
number takes any well-formed number (GB 11643's own sample, born 1880, included); enrolling a
subject also requires a birth date a living person could have."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask

from app.services.intake.ingest import IntakeError
from tests.logins import make_account
from tests.services.report_helpers import Person, ingest
from tests.web.self_helpers import client_for

GB_SAMPLE = "440524188001010014"  # GB 11643-1999's example: born 1 January 1880
LIVING = "11010519491231002X"  # the standard's other example, born 1949


def test_a_public_list_search_takes_the_standards_sample_number(app: Flask) -> None:
    client, headers = client_for(app, make_account(app, "searcher.one"))
    response = client.post(
        "/api/v1/public/lists/search", json={"id_number": GB_SAMPLE}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["results"] == []


def test_an_archive_order_takes_the_standards_sample_number(app: Flask) -> None:
    client, headers = client_for(app, make_account(app, "buyer.one"))
    response = client.post("/api/v1/archive/orders", json={"id_number": GB_SAMPLE}, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["order"]["kind"] == "archive_report"


def test_a_malformed_number_is_still_refused_by_the_search(app: Flask) -> None:
    client, headers = client_for(app, make_account(app, "searcher.two"))
    broken = GB_SAMPLE[:-1] + "5"  # the check character no longer matches
    response = client.post(
        "/api/v1/public/lists/search", json={"id_number": broken}, headers=headers
    )
    assert response.status_code == 400
    assert "check character" in response.get_json()["message"]


def test_enrolling_a_subject_applies_the_plausibility_rule_with_its_own_message(
    app: Flask,
) -> None:
    with pytest.raises(IntakeError) as refused:
        ingest(app, [Person(GB_SAMPLE, "王古人")], today=date(2026, 12, 4))
    message = str(refused.value)
    assert "well-formed" in message
    assert "before 1900" in message
    assert GB_SAMPLE not in message
    enrolled = ingest(app, [Person(LIVING, "李今人")], today=date(2026, 12, 4))
    assert set(enrolled) == {LIVING}
