"""A small reader of docs/nginx-mtls.conf for the tests that keep the proxy's promises: the
`server` blocks, their `location` blocks and the directives each holds (nginx's own grammar is
blocks of `name args;` and `name args { ... }`; comments start with `#`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "docs" / "nginx-mtls.conf"
_TOKEN = re.compile(r"""\"[^"]*"|'[^']*'|[{};]|[^\s{};"']+""")


@dataclass
class Block:
    name: str
    args: tuple[str, ...]
    directives: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)

    def values(self, name: str) -> list[tuple[str, ...]]:
        return [args for directive, args in self.directives if directive == name]

    def blocks(self, name: str) -> list[Block]:
        return [child for child in self.children if child.name == name]

    def headers_set(self) -> dict[str, str]:
        """`proxy_set_header NAME VALUE` of this block, by lower-case name."""
        return {args[0].lower(): " ".join(args[1:]) for args in self.values("proxy_set_header")}


def parse(text: str | None = None) -> Block:
    source = CONF.read_text(encoding="utf-8") if text is None else text
    lines = [line.split("#", 1)[0] for line in source.splitlines()]
    tokens = _TOKEN.findall("\n".join(lines))
    root = Block("main", ())
    stack = [root]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].directives.append((words[0], tuple(words[1:])))
            words = []
        elif token == "{":
            block = Block(words[0], tuple(words[1:]))
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token)
    return root


def servers() -> list[Block]:
    return parse().blocks("server")


def proxied_locations() -> list[tuple[Block, Block]]:
    """Every (server, location) whose location passes requests on to the app."""
    return [
        (server, location)
        for server in servers()
        for location in server.blocks("location")
        if location.values("proxy_pass")
    ]


def effective_headers(server: Block, location: Block) -> dict[str, str]:
    """The proxy headers a location sends: its own if it sets any, else its server's (nginx
    inherits `proxy_set_header` only when a level sets none)."""
    return location.headers_set() or server.headers_set()
