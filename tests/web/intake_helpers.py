"""Helpers for the intake tests: a registered provider with its own key and bearer token, rows in
the unified format, and a batch submitted through the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, Response
from flask.testing import FlaskClient

from app.container import container
from app.services.intake.providers import ProviderService
from policies.identifiers import make_credit_code
from policies.intake_rules import default_intake_rules
from tests.services.report_helpers import AUTHORITY_CODE, citizen_id
from tests.web.oauth_helpers import ec_key, get_token, public_pem

_serial = iter(range(1, 10_000))
TODAY = date(2026, 12, 4)


@dataclass
class Provider:
    code: str
    client_id: str
    key: ec.EllipticCurvePrivateKey
    token: str = ""

    def headers(self, media: str = "application/x-ndjson") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": media}


def register_provider(
    app: Flask, *, kind: str = "court", name: str = "重庆市第一中级人民法院"
) -> Provider:
    key = ec_key()
    code = make_credit_code("1", "1", "500000", f"{next(_serial):08d}")
    with container(app).unit() as db:
        view = ProviderService(default_intake_rules()).register(
            db, credit_code=code, name=name, kind=kind, public_key_pem=public_pem(key)
        )
    assert view.client_id is not None
    provider = Provider(code, view.client_id, key)
    provider.token = get_token(
        app.test_client(), key, provider.client_id, scope="provider:records:submit"
    )
    return provider


def judgment(provider: Provider, record_id: str, sequence: int, **changes: Any) -> dict[str, Any]:
    """A civil judgment against the subject (negative, needs prior notice)."""
    row: dict[str, Any] = {
        "op": "add",
        "provider": provider.code,
        "record_id": record_id,
        "type": "D.civil_judgment",
        "subject": {"id_number": citizen_id(sequence), "name": f"测试{sequence}"},
        "occurred_on": "2026-06-01",
        "notice": {"notified_on": "2026-06-10", "channel": "registered_mail"},
        "fields": {
            "court": "重庆市渝中区人民法院",
            "case_number": "（2026）渝0103民初88号",
            "cause": "loan_dispute",
            "role": "defendant",
            "disposition": "judgment",
            "amount_fen": 1_200_000,
            "performance": "not_performed",
        },
    }
    row.update(changes)
    return row


def penalty_row(
    provider: Provider, record_id: str, sequence: int, **changes: Any
) -> dict[str, Any]:
    """A general administrative penalty (public by law: no prior notice needed)."""
    row: dict[str, Any] = {
        "op": "add",
        "provider": provider.code,
        "record_id": record_id,
        "type": "D.penalty_general",
        "subject": {"id_number": citizen_id(sequence), "name": f"测试{sequence}"},
        "occurred_on": "2026-09-01",
        "ended_on": "2026-09-01",
        "fields": {
            "authority": "重庆市渝中区市场监督管理局",
            "authority_credit_code": AUTHORITY_CODE,
            "decision_number": "渝中市监罚〔2026〕7号",
            "violation": "无照经营",
            "penalty_kind": "fine",
            "fine_fen": 300_000,
        },
    }
    row.update(changes)
    return row


def jsonl(rows: list[Any]) -> bytes:
    return "".join(
        (row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n"
        for row in rows
    ).encode("utf-8")


def submit(
    client: FlaskClient, provider: Provider, body: bytes, media: str = "application/x-ndjson"
) -> Response:
    return client.post("/api/v1/intake/batches", data=body, headers=provider.headers(media))
