"""The shipped list of common (breached, guessable) passwords, as one frozen set.

Guarantees: the list (`policies/data/common_passwords.txt`, derived from zxcvbn's MIT-licensed
frequency list; see its header) is read once per process and kept as a `frozenset` of lowercase
entries; `is_common` compares case-insensitively and never logs or keeps what it was asked about.
A missing or empty list raises at first use instead of silently accepting every password.
"""

from __future__ import annotations

import functools
from importlib import resources

_RESOURCE = ("data", "common_passwords.txt")

#: The list must hold at least this many entries, or it is treated as damaged.
MIN_ENTRIES = 10_000


class CommonPasswordListError(Exception):
    """The shipped common-password list is missing or damaged."""


def parse(text: str) -> frozenset[str]:
    """Entries of a list text: one per line, '#' lines are comments, blank lines ignored."""
    return frozenset(
        line.lower() for line in text.splitlines() if line and not line.startswith("#")
    )


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list (loaded on first call, then shared)."""
    resource = resources.files("policies").joinpath(*_RESOURCE)
    try:
        entries = parse(resource.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommonPasswordListError("the common-password list cannot be read") from exc
    if len(entries) < MIN_ENTRIES:
        raise CommonPasswordListError(
            f"the common-password list holds {len(entries)} entries, expected {MIN_ENTRIES}+"
        )
    return entries


def is_common(candidate: str) -> bool:
    """True if `candidate`, compared case-insensitively, is on the shipped list."""
    return candidate.lower() in common_passwords()
