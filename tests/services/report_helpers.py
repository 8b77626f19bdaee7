"""Helpers for report and public-list tests: real intake (sealed records, retention computed by
the catalog rules) of hand-written subjects, and decisions built as the engine would."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.container import container
from app.demo.generator import generate_providers
from app.models import Subject
from policies.actions import Action
from policies.catalog import Catalog
from policies.catalog_model import MaskKind, Tier
from policies.decision import Decision, Obligations, Outcome
from policies.identifiers import make_citizen_id

PROVIDERS = generate_providers(3)
PROVIDER = PROVIDERS[0].credit_code
AUTHORITY_CODE = PROVIDERS[1].credit_code


@dataclass(frozen=True)
class Intake:
    record_type: str
    occurred_on: date
    ended_on: date | None
    payload: dict[str, Any]
    repaired_on: date | None = None
    provider_credit_code: str = PROVIDER


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    records: tuple[Intake, ...] = ()
    written_consent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def citizen_id(sequence: int, birth: date = date(1985, 3, 14)) -> str:
    return make_citizen_id("500103", birth, sequence)


def loan(opened: date) -> Intake:
    return Intake(
        "B.loan",
        opened,
        None,
        {
            "lender": "重庆银行",
            "account_ref": "LN20190001",
            "loan_kind": "mortgage",
            "principal_fen": 80_000_000,
            "term_months": 240,
            "maturity_date": "2039-01-01",
            "balance_fen": 61_234_500,
            "status": "open",
            "report_month": "2026-10",
            "repayment_grid": "N" * 24,
        },
    )


def overdue(occurred: date, ended: date | None) -> Intake:
    return Intake(
        "B.overdue",
        occurred,
        ended,
        {
            "creditor": "招商银行",
            "account_kind": "credit_card",
            "account_ref": "CC99887766",
            "overdue_amount_fen": 1_234_500,
            "max_days_overdue": 95,
            "status": "repaid" if ended else "outstanding",
        },
    )


def penalty(
    decided: date, *, serious: bool, repaired: date | None = None, facts: str = "当事人违规经营。"
) -> Intake:
    return Intake(
        "D.penalty_serious" if serious else "D.penalty_general",
        decided,
        decided,
        {
            "authority": "重庆市渝中区市场监督管理局",
            "authority_credit_code": AUTHORITY_CODE,
            "decision_number": "渝中市监罚〔2025〕101号",
            "violation": "无照经营",
            "facts": facts,
            "penalty_kind": "fine",
            "fine_fen": 500_000,
        },
        repaired_on=repaired,
    )


def dishonest(listed: date, removed: date | None) -> Intake:
    return Intake(
        "D.dishonest_debtor",
        listed,
        removed,
        {
            "court": "重庆市渝中区人民法院",
            "case_number": "（2024）渝0103执1234号",
            "basis_document": "（2023）渝0103民初567号",
            "dishonesty_kind": "evading_with_means",
            "performance": "not_performed",
        },
    )


def ingest(app: Flask, people: Iterable[Person], *, today: date) -> dict[str, uuid.UUID]:
    """Ingest `people` as of `today`; returns subject ids by ID number."""
    parts = container(app)
    service = parts.ingest()
    service.today = today
    batch = list(people)
    with parts.unit() as db:
        service.register_providers(db, PROVIDERS)
        service.ingest(db, batch)
    with parts.sessions() as db:
        from crypto.blind_index import BlindIndexKind, blind_index

        found: dict[str, uuid.UUID] = {}
        for person in batch:
            bidx = blind_index(parts.key_provider, BlindIndexKind.CITIZEN_ID, person.id_number)
            found[person.id_number] = db.scalars(
                select(Subject.id).where(Subject.id_bidx == bidx)
            ).one()
    return found


def tier_masks(
    catalog: Catalog, tier: Tier, record_types: Iterable[str]
) -> dict[tuple[str, str], MaskKind]:
    masks: dict[tuple[str, str], MaskKind] = {}
    for code in record_types:
        for spec in catalog.require(code).fields:
            masks[(code, spec.name)] = spec.mask(tier)
    return masks


def allow(
    catalog: Catalog,
    *,
    tier: Tier = "self",
    action: Action = Action.SELF_REPORT_READ,
    record_types: Iterable[str] | None = None,
    subject_masks: Mapping[str, MaskKind] | None = None,
    drop: Iterable[tuple[str, str]] = (),
    hide_undisplayed: bool = True,
) -> Decision:
    """An allowing decision as the engine would give it for `tier` (catalog masks)."""
    types = frozenset(catalog.record_types if record_types is None else record_types)
    masks = tier_masks(catalog, tier, types)
    for key in drop:
        masks.pop(key, None)
    identity = subject_masks if subject_masks is not None else {"name": "none", "id_number": "none"}
    for name, kind in identity.items():
        masks[("subject", name)] = kind
    return Decision(
        action=action,
        outcome=Outcome.ALLOW,
        reason="test",
        rule_ids=("test.allow",),
        obligations=Obligations(
            tier=tier,
            record_types=types,
            masks=MappingProxyType(masks),
            hide_undisplayed=hide_undisplayed,
        ),
    )
