"""Rules of the house that the import contracts cannot see, checked on the source itself: the
durability and speed come from the stack's own means, and the query views name no database."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
#: Views that map a use case's outcome to HTTP and nothing else (the import contract in
#: pyproject.toml names the same modules).
QUERY_VIEWS = (
    "self_service.py",
    "public_lists.py",
    "archive.py",
    "institution_reports.py",
    "consents.py",
    "oauth.py",
    "billing.py",
    "notices.py",
    "government.py",
    "intake.py",
    "registry.py",
    "review_lists.py",
    "statistics.py",
    "card_pages.py",
    "review_log.py",
    "review_cases.py",
    "objections.py",
    "statements.py",
    "repairs.py",
    "repair_pages.py",
    "inbox.py",
    "grades.py",
    "pages.py",
    "report_pages.py",
    "report_view.py",
    "search_pages.py",
    "order_pages.py",
    "consent_pages.py",
    "locale.py",
)


def _sources(folder: Path) -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(folder.rglob("*.py"))}


def test_no_ctypes_raw_system_calls_or_private_sqlalchemy_anywhere() -> None:
    forbidden = re.compile(
        r"\bimport ctypes\b|\bctypes\.|\bsyscall\(|_handle_dbapi_exception|"
        r"connection\.connection\.cursor\(|\bos\.fdatasync\(|\bmmap\."
    )
    offenders = [
        str(path.relative_to(ROOT))
        for folder in (APP, ROOT / "crypto", ROOT / "policies", ROOT / "hsm")
        for path, text in _sources(folder).items()
        if forbidden.search(text)
    ]
    assert offenders == []


def test_the_query_views_name_no_unit_snapshot_dialect_or_sql() -> None:
    calls = {"unit", "snapshot", "reads", "execute", "begin", "connect"}
    offenders = []
    for name in QUERY_VIEWS:
        tree = ast.parse((APP / "web" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and (node.attr in calls or node.attr == "dialect"):
                offenders.append(f"{name}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_only_the_container_reaches_the_engine_and_the_session_factory() -> None:
    """Services, views, commands and the demo use `unit()`, `snapshot()` and `reads()`."""
    allowed = {APP / "container.py", APP / "factory.py"}
    pattern = re.compile(r"\.sessions\(\)|\bparts\.engine\b|container\(\)\.engine\b")
    offenders = [
        str(path.relative_to(ROOT))
        for path, text in _sources(APP).items()
        if path not in allowed and pattern.search(text)
    ]
    assert offenders == []
