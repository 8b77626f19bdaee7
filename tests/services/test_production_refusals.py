"""Production refuses what exists only for development: demo data and demo cards."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.container import container
from app.models import Account
from app.settings import Mode
from crypto.keys import KeyProvider
from tests.conftest import make_app, make_settings


@pytest.mark.parametrize(
    "args",
    [["demo", "seed", "--subjects", "3"], ["cards", "demo", "--count", "1"]],
    ids=["demo-seed", "cards-demo"],
)
def test_production_refuses_demo_commands_and_creates_nothing(
    database_url: str, key_provider: KeyProvider, tmp_path: Path, args: list[str]
) -> None:
    settings = make_settings(
        database_url, tmp_path, mode=Mode.PRODUCTION, password_hashing="standard"
    )
    app = make_app(settings, key_provider=key_provider)
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert "production" in result.output or "development" in result.output
    with container(app).snapshot() as db:
        assert db.execute(select(func.count()).select_from(Account)).scalar_one() == 0
