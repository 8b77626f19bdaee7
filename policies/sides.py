"""Which side of the physical isolation holds each capability (policies/data/sides.toml).

Guarantees: `load_sides` returns the map only if the whole file is valid — every key known, every
side `registry`, `portal` or `both`, every action named under `[actions]` one of the closed
vocabulary (`policies.actions.Action`) — else one `SidesError` naming the file and the key.
`holder_of(action)` is the action's own entry, else its tier's; an action with neither has no
side (`check_complete` names it), so a new tier cannot slip in served everywhere by default.
`serves(side, action)` is true iff the side is `combined` (development only) or holds the
action. Pure: no Flask, no database.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from policies.actions import Action
from policies.toml_tables import StrictTable

Holder = Literal["registry", "portal", "both"]
HOLDERS: tuple[Holder, ...] = ("registry", "portal", "both")
#: The side a process runs as: one of the two, or both at once (development and tests only).
COMBINED = "combined"


class SidesError(ValueError):
    """The sides file is invalid or incomplete; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class SideMap:
    scopes: Mapping[str, Holder]
    actions: Mapping[str, Holder]
    commands: Mapping[str, Holder]

    def holder_of(self, action: str) -> Holder | None:
        """The side holding `action` (its own entry, else its tier's), or None."""
        found = self.actions.get(action)
        if found is not None:
            return found
        return self.scopes.get(action.split(":", 1)[0])

    def serves(self, side: str, action: str) -> bool:
        """True iff a process running as `side` offers `action`."""
        if side == COMBINED:
            return True
        holder = self.holder_of(action)
        return holder == "both" or holder == side

    def command_holder(self, group: str, command: str | None = None) -> Holder | None:
        """The side of `flask <group> [<command>]`: the command's own entry, else its group's."""
        if command is not None and f"{group} {command}" in self.commands:
            return self.commands[f"{group} {command}"]
        return self.commands.get(group)

    def serves_command(self, side: str, group: str, command: str | None = None) -> bool:
        if side == COMBINED:
            return True
        holder = self.command_holder(group, command)
        return holder == "both" or holder == side

    def check_complete(self, actions: Iterable[str], groups: Iterable[str] = ()) -> None:
        """`SidesError` naming every action or command group that has no side."""
        missing = sorted(a for a in actions if self.holder_of(a) is None)
        missing += sorted(f"flask {g}" for g in groups if g not in self.commands)
        if missing:
            raise SidesError(f"sides.toml: no side for {', '.join(missing)}")


def parse_sides(text: str, *, source: str) -> SideMap:
    def error(problem: str) -> SidesError:
        return SidesError(f"{source}: {problem}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})") from None
    top = StrictTable(doc, allowed=("schema", "scopes", "actions", "commands"), error=error)
    if top.integer("schema") != 1:
        raise error("only schema 1 is understood")

    def section(name: str) -> dict[str, Holder]:
        raw = doc.get(name, {})
        if not isinstance(raw, dict):
            raise error(f"[{name}] must be a table")
        out: dict[str, Holder] = {}
        for key, value in raw.items():
            if value not in HOLDERS:
                raise error(f"[{name}] {key!r}: the side is registry, portal or both")
            out[key] = value
        return out

    scopes, actions, commands = section("scopes"), section("actions"), section("commands")
    known = {action.value for action in Action}
    for name in actions:
        if name not in known:
            raise error(f"[actions] {name!r} is not an action of the vocabulary")
    tiers = {action.tier for action in Action}
    for name in scopes:
        if name not in tiers:
            raise error(f"[scopes] {name!r} is not a tier of the vocabulary")
    for name in commands:
        if not name or len(name.split(" ")) > 2:
            raise error(f"[commands] {name!r} is not '<group>' or '<group> <command>'")
        if " " in name and name.split(" ")[0] not in commands:
            raise error(f"[commands] {name!r}: its group has no side")
    return SideMap(scopes=scopes, actions=actions, commands=commands)


@functools.cache
def default_sides() -> SideMap:
    """The packaged sides map, checked to give every action of the vocabulary a side."""
    text = resources.files("policies").joinpath("data/sides.toml").read_text(encoding="utf-8")
    sides = parse_sides(text, source="policies/data/sides.toml")
    sides.check_complete(action.value for action in Action)
    return sides
