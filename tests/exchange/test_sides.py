"""Two sides from one codebase: each refuses the other's routes (404), hides them from its API
document, and refuses the other's commands; every action of the policy has a side."""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from pathlib import Path

import pytest
from flask import Flask

from app.settings import Side
from app.web.gate import action_of
from policies.actions import Action
from policies.sides import SidesError, default_sides, parse_sides
from tests.conftest import make_app, make_settings
from tests.fakes import InMemoryKeyProvider

POLICY = Path(__file__).resolve().parents[2] / "policies" / "data" / "policy.toml"
PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _side_app(database_url: str, tmp_path: Path, side: Side) -> Flask:
    settings = make_settings(database_url, tmp_path / side.value, side=side)
    return make_app(settings, key_provider=InMemoryKeyProvider())


def _concrete(rule: str) -> str:
    def value(match: re.Match[str]) -> str:
        converter = match.group(1) or "string"
        return {"uuid": str(uuid.uuid4()), "int": "1"}.get(converter, "x")

    return PLACEHOLDER.sub(value, rule)


def test_every_action_of_the_policy_and_the_vocabulary_has_a_side() -> None:
    policy = tomllib.loads(POLICY.read_text(encoding="utf-8"))
    sides = default_sides()
    sides.check_complete([*policy["actions"], *(a.value for a in Action)])
    assert sides.holder_of("registry:card:issue") == "registry"
    assert sides.holder_of("self:report:read") == "portal"
    assert sides.holder_of("service:intake_schema:read") == "registry"


def test_a_sides_file_with_an_unknown_side_or_action_is_refused() -> None:
    with pytest.raises(SidesError, match="registry, portal or both"):
        parse_sides('schema = 1\n[scopes]\nself = "dmz"\n', source="t")
    with pytest.raises(SidesError, match="not an action"):
        parse_sides('schema = 1\n[actions]\n"self:nothing:read" = "portal"\n', source="t")
    with pytest.raises(SidesError, match=r"no side for .*self:report:read"):
        parse_sides("schema = 1\n", source="t").check_complete(["self:report:read"])


@pytest.mark.parametrize("side", [Side.REGISTRY, Side.PORTAL])
def test_each_side_answers_404_for_every_route_of_the_other(
    database_url: str, tmp_path: Path, side: Side
) -> None:
    app = _side_app(database_url, tmp_path, side)
    client = app.test_client()
    sides = default_sides()
    refused = 0
    for rule in app.url_map.iter_rules():
        action = action_of(app, rule.endpoint)
        if action is None or sides.serves(side.value, action.value):
            continue
        method = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})[0]
        response = client.open(_concrete(rule.rule), method=method)
        assert response.status_code == 404, (side, rule.rule, response.status_code)
        refused += 1
    assert refused > 5
    assert client.get("/healthz").status_code != 404  # what both sides hold stays open


@pytest.mark.parametrize("side", [Side.REGISTRY, Side.PORTAL])
def test_each_side_documents_only_its_own_operations(
    database_url: str, tmp_path: Path, side: Side
) -> None:
    app = _side_app(database_url, tmp_path, side)
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    operations = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert operations
    for endpoint in operations:
        action = action_of(app, endpoint)
        assert action is not None, endpoint
        assert default_sides().serves(side.value, action.value), endpoint
    full = json.loads((Path(__file__).resolve().parents[2] / "app" / "openapi.json").read_text())
    assert len(document["paths"]) < len(full["paths"])


def test_the_combined_development_side_serves_the_checked_in_document(app: Flask) -> None:
    served = app.test_client().get("/api/v1/openapi.json").data
    assert served == (Path(__file__).resolve().parents[2] / "app" / "openapi.json").read_bytes()


@pytest.mark.parametrize(
    ("side", "args", "holder"),
    [
        (Side.PORTAL, ["cards", "list", "zhang.wei"], "registry"),
        (Side.PORTAL, ["objections", "list"], "registry"),
        (Side.PORTAL, ["lists", "derive"], "registry"),
        (Side.REGISTRY, ["billing", "ledger", "--institution", "x"], "portal"),
        (Side.REGISTRY, ["institutions", "list"], "portal"),
    ],
)
def test_each_side_refuses_the_commands_of_the_other(
    database_url: str, tmp_path: Path, side: Side, args: list[str], holder: str
) -> None:
    app = _side_app(database_url, tmp_path, side)
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert f"belongs to the {holder} side" in result.output
    assert f"this process is the {side.value} side" in result.output


def test_a_command_both_sides_hold_runs_on_each(database_url: str, tmp_path: Path) -> None:
    for side in (Side.REGISTRY, Side.PORTAL):
        app = _side_app(database_url, tmp_path, side)
        result = app.test_cli_runner().invoke(args=["lists", "rebuild", "--help"])
        assert result.exit_code == 0, result.output
        assert "belongs to" not in result.output
