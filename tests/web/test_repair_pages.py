"""The credit repair pages (HTML forms over the same use cases): a subject finds the page in
the portal menu, sees when each penalty record may be repaired, applies with evidence files
(multipart, CSRF in the form), and reads the decision; a registrar reads the evidence and
decides on the desk page. A form over the route's limit is a clear 413 page."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.web.repairs import UPLOAD_LIMIT
from tests.clocks import MovableClock
from tests.web.intake_helpers import TODAY, penalty_row, register_provider
from tests.web.repair_helpers import PDF, stored
from tests.web.rights_helpers import Holder, holder_of, registrar


@pytest.fixture(autouse=True)
def fixed_day(clock: MovableClock) -> None:
    clock.move_to_day(TODAY)


@pytest.fixture
def holder(app: Flask) -> Holder:
    court = register_provider(app, kind="court")
    rows = [
        penalty_row(court, "G-1", 551),
        penalty_row(court, "S-1", 551, type="D.penalty_serious", occurred_on="2026-09-01"),
    ]
    return holder_of(app, court, 551, rows)


def _form(holder: Holder, record_id: str, content: bytes, *, token: bool = True) -> object:
    values = MultiDict([("record_id", record_id), ("explanation", "罚款已缴清。")])
    if token:
        values.add("csrf_token", holder.headers["X-CSRF-Token"])
    evidence = FileStorage(io.BytesIO(content), "receipt.pdf", content_type="application/pdf")
    values.add("evidence", evidence)
    boundary, body = encode_multipart(values)
    return holder.client.post(
        "/repairs", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_a_subject_applies_with_a_form_and_a_registrar_decides_on_the_desk(
    app: Flask, holder: Holder
) -> None:
    account = holder.client.get("/account").get_data(as_text=True)
    assert 'href="/repairs"' in account  # the portal menu links the page
    page = holder.client.get("/repairs")
    assert (page.status_code, page.headers["Cache-Control"]) == (200, "no-store")
    html = page.get_data(as_text=True)
    general = holder.record("D.penalty_general")["id"]
    serious = holder.record("D.penalty_serious")["id"]
    assert 'enctype="multipart/form-data"' in html
    assert "2027-03-01" in html  # the serious penalty: 6 months from 2026-09-01
    assert html.count('class="apply"') == 1  # only the general penalty may be repaired now
    assert _form(holder, general, PDF, token=False).status_code == 403  # CSRF in the form
    assert stored(app) == (0, 0)
    early = _form(holder, serious, PDF)
    assert early.headers["Location"].endswith("/repairs?refused=too_early")
    filed = _form(holder, general, PDF)
    assert filed.status_code == 303
    assert filed.headers["Location"].endswith("/repairs?done=filed")
    after = holder.client.get("/repairs?done=filed").get_data(as_text=True)
    assert "待决定 awaiting a decision" in after

    desk, headers = registrar(app)
    listing = desk.get("/registry/repairs").get_data(as_text=True)
    assert "罚款已缴清。" in listing
    link = listing.split('href="/api/v1/registry/repairs/', 1)[1].split('"', 1)[0]
    evidence = desk.get(f"/api/v1/registry/repairs/{link}")
    assert (evidence.status_code, evidence.data) == (200, PDF)
    application_id = link.split("/", 1)[0]
    token = headers["X-CSRF-Token"]
    refused = desk.post(
        f"/registry/repairs/{application_id}/refuse", data={"csrf_token": token, "reason": " "}
    )
    assert refused.headers["Location"].endswith("/registry/repairs?refused=bad_request")
    approved = desk.post(f"/registry/repairs/{application_id}/approve", data={"csrf_token": token})
    assert approved.headers["Location"].endswith("/registry/repairs?done=approved")
    mine = holder.client.get("/repairs").get_data(as_text=True)
    assert f"自 {TODAY.isoformat()} 起不再展示" in mine
    inbox = holder.client.get("/inbox").get_data(as_text=True)
    assert "信用修复决定 Repair decision" in inbox


def test_a_form_over_the_routes_limit_is_a_clear_413_page(app: Flask, holder: Holder) -> None:
    general = holder.record("D.penalty_general")["id"]
    answer = _form(holder, general, PDF + b" " * UPLOAD_LIMIT)
    assert answer.status_code == 413
    assert str(UPLOAD_LIMIT) in answer.get_data(as_text=True)
    assert stored(app) == (0, 0)


def test_only_subjects_and_registrars_reach_their_pages(app: Flask, holder: Holder) -> None:
    desk, _ = registrar(app)
    assert desk.get("/repairs").status_code == 403
    assert holder.client.get("/registry/repairs").status_code == 403
