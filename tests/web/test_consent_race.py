"""One consent token allowing 3 uses, presented by 12 simultaneous institutional queries, each
its own committed transaction on a real database (both backends): exactly 3 reports, 9
refusals as `used_up`, the consent counts 3 uses, and the institution is debited 3 times."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.container import container
from app.migrate import upgrade
from app.models import Consent, Institution, LedgerEntry, QueryLogEntry
from app.services.billing.ledger import LedgerService
from crypto.keys import KeyProvider
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.consent_helpers import ingest_subjects, signer_for, token_for
from tests.races import race
from tests.web.oauth_helpers import ec_key, get_token, register

RACERS = 12
USES = 3
PURPOSE = "loan_approval"
FEE = 2500  # policies/data/policy.toml [fees.institution_report]


@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_twelve_simultaneous_queries_under_a_three_use_consent_get_exactly_three_reports(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> None:
    upgrade(scratch_database.url)
    app = make_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    (alice,) = ingest_subjects(app, 1)
    signer = signer_for(app, alice, "alice")
    key = ec_key()
    bank = register(app, key)
    bearer = get_token(app.test_client(), key, bank)
    with container(app).unit() as db:
        bank_id = db.scalars(select(Institution.id).where(Institution.client_id == bank)).one()
        LedgerService().top_up(
            db, institution_id=bank_id, amount_fen=100 * FEE, reference="T1", created_by="t"
        )
    token = token_for(signer, bank, PURPOSE, max_uses=USES)
    body = {"id_number": signer.id_number, "purpose": PURPOSE, "consent_token": token}

    def prepare(_: int) -> Callable[[], tuple[int, str | None]]:
        mine = app.test_client()

        def ask() -> tuple[int, str | None]:
            response = mine.post(
                "/api/v1/institution/reports",
                json=body,
                headers={"Authorization": f"Bearer {bearer}"},
            )
            payload = response.get_json()
            return response.status_code, payload.get(
                "error"
            ) if response.status_code != 200 else None

        return ask

    answers = race(RACERS, prepare)
    assert Counter(answers) == {(200, None): USES, (403, "used_up"): RACERS - USES}
    with container(app).sessions() as db:
        assert db.scalars(select(Consent.uses)).all() == [USES]
        debits = db.scalars(
            select(LedgerEntry.amount_fen).where(
                LedgerEntry.institution_id == bank_id, LedgerEntry.kind == "debit"
            )
        ).all()
        balance = LedgerService().balance(db, bank_id)
        logged = Counter(
            db.execute(
                select(QueryLogEntry.decision, func.count())
                .where(QueryLogEntry.action == "institution:report:query")
                .group_by(QueryLogEntry.decision)
            ).all()
        )
    assert len(debits) == USES
    assert balance == (100 - USES) * FEE
    assert logged == {("allowed", USES): 1, ("denied", RACERS - USES): 1}
    container(app).engine.dispose()
