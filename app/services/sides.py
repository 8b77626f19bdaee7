"""The two sides as the web layer and the CLI see them (policies/data/sides.toml).

Guarantees: `serves(side, action)` is true iff a process running as `side` offers `action`
(`combined`, development only, offers everything); `side_document` is the OpenAPI document with
exactly the operations the side offers — byte for byte the checked-in document when the side is
`combined` — kept in the document's own format (indent 1, UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from policies.actions import Action
from policies.sides import COMBINED, SideMap, default_sides

__all__ = ["COMBINED", "SideMap", "serves", "serves_command", "side_document", "side_map"]

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def side_map() -> SideMap:
    return default_sides()


def serves(side: str, action: Action) -> bool:
    return default_sides().serves(side, action.value)


def serves_command(side: str, group: str, command: str | None = None) -> bool:
    return default_sides().serves_command(side, group, command)


def side_document(
    document: bytes, side: str, action_of_operation: Callable[[str], Action | None]
) -> bytes:
    """`document` less the operations whose action (looked up by operationId, the endpoint)
    the side does not offer; a path left with no operation goes too."""
    if side == COMBINED:
        return document
    parsed = json.loads(document)
    kept: dict[str, object] = {}
    for path, item in parsed["paths"].items():
        operations = {
            method: operation
            for method, operation in item.items()
            if method not in _HTTP_METHODS
            or _offered(side, action_of_operation(operation.get("operationId", "")))
        }
        if any(method in _HTTP_METHODS for method in operations):
            kept[path] = operations
    parsed["paths"] = kept
    return (json.dumps(parsed, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _offered(side: str, action: Action | None) -> bool:
    return action is not None and serves(side, action)
