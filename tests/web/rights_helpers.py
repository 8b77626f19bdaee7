"""Helpers for the objection and statement tests: a subject whose records came from a
provider's intake, logged in with card; a registrar; the own report's records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from app.container import container
from app.models import ReportAllowance
from tests.consent_helpers import subject_id_of
from tests.logins import logged_in, make_account
from tests.services.report_helpers import citizen_id
from tests.web.intake_helpers import Provider, jsonl, submit
from tests.web.self_helpers import client_for

REGISTRAR_METHODS = frozenset({"password", "totp", "card"})


@dataclass
class Holder:
    app: Flask
    client: FlaskClient
    headers: dict[str, str]
    subject_id: uuid.UUID
    sequence: int

    def report(self) -> dict[str, Any]:
        """The own report (the free allowance reset first: tests read it often)."""
        with container(self.app).unit() as db:
            db.execute(delete(ReportAllowance))
        response = self.client.post("/api/v1/self/reports", json={}, headers=self.headers)
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def records(self) -> list[dict[str, Any]]:
        sections = self.report()["sections"]
        return [
            r for name in ("identity", "financial", "social", "special") for r in sections[name]
        ]

    def record(self, record_type: str) -> dict[str, Any]:
        return next(r for r in self.records() if r["type"] == record_type)

    def object_to(self, record_id: str, text: str = "案件已履行完毕。") -> Any:
        return self.client.post(
            "/api/v1/self/objections",
            json={"record_id": record_id, "text": text},
            headers=self.headers,
        )

    def state(self, record_id: str, text: str = "该判决已履行，见法院结案通知书。") -> Any:
        return self.client.post(
            "/api/v1/self/statements",
            json={"record_id": record_id, "text": text},
            headers=self.headers,
        )


def holder_of(app: Flask, court: Provider, sequence: int, rows: list[dict[str, Any]]) -> Holder:
    """The subject `citizen_id(sequence)` with `rows` furnished by `court`, logged in."""
    response = submit(app.test_client(), court, jsonl(rows))
    assert response.status_code == 201, response.get_json()
    subject_id = subject_id_of(app, citizen_id(sequence))
    account = make_account(app, f"s{uuid.uuid4().hex[:10]}", subject_id=subject_id)
    client, headers = client_for(app, account)
    return Holder(app, client, headers, subject_id, sequence)


def registrar(
    app: Flask, *, subject_id: uuid.UUID | None = None
) -> tuple[FlaskClient, dict[str, str]]:
    account = make_account(
        app,
        f"r{uuid.uuid4().hex[:10]}",
        kind="staff",
        roles=("registrar",),
        subject_id=subject_id,
    )
    client, csrf = logged_in(app, account, REGISTRAR_METHODS)
    return client, {"X-CSRF-Token": csrf}
