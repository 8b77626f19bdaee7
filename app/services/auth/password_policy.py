"""The staff password policy: what a new password must satisfy before it is hashed.

Guarantees:
- a password has at least `MIN_LENGTH` (12) and at most `MAX_LENGTH` (1024) characters
  (Unicode code points of the string as typed; spaces count, nothing is stripped);
- it is refused, case-insensitively, if it is on the shipped common-password list
  (`policies.common_passwords`), if what remains after stripping leading and trailing digits,
  punctuation and spaces is on that list ("Password2024!" is "password"), or if it is one short
  or common unit repeated ("abcabcabcabc", "qwertyqwerty");
- it is refused if it contains the username (also with its separators removed, and any part of
  it of 4 or more characters) or the service's name;
- every reason is a fixed sentence: no message ever echoes the password or any part of it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from policies.common_passwords import is_common

MIN_LENGTH = 12
MAX_LENGTH = 1024
SERVICE_NAMES = ("creditgate",)
_STRIPPABLE = string.digits + string.punctuation + string.whitespace
_USERNAME_SEPARATORS = re.compile(r"[._-]+")
_MIN_USERNAME_PART = 4
_SHORT_UNIT = 4

TOO_SHORT = f"Choose a password of at least {MIN_LENGTH} characters."
COMMON = "This password is on the list of common or breached passwords; choose another."
REPEATED = "This password repeats a short or common pattern; choose another."
HAS_USERNAME = "A password must not contain the username."
HAS_SERVICE = "A password must not contain the service's name."


class PasswordRejected(ValueError):
    """The password does not satisfy the policy; `reasons` are safe to show and to log."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


def _repeated_unit(text: str) -> str | None:
    """The shortest unit that `text` is two or more copies of, if any."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return None


def _username_fragments(username: str) -> set[str]:
    name = username.strip().casefold()
    fragments = {name, _USERNAME_SEPARATORS.sub("", name)}
    fragments.update(
        part for part in _USERNAME_SEPARATORS.split(name) if len(part) >= _MIN_USERNAME_PART
    )
    return {fragment for fragment in fragments if len(fragment) >= 3}


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH

    def problems(self, password: str, *, username: str | None = None) -> tuple[str, ...]:
        """Every rule `password` breaks, as fixed messages (empty: acceptable)."""
        if len(password) > self.max_length:
            # Nothing more is computed on an oversized input.
            return (f"A password may have at most {self.max_length} characters.",)
        reasons: list[str] = []
        if len(password) < self.min_length:
            reasons.append(f"Choose a password of at least {self.min_length} characters.")
        folded = password.casefold()
        core = folded.strip(_STRIPPABLE)
        if is_common(folded) or (core and is_common(core)):
            reasons.append(COMMON)
        else:
            unit = _repeated_unit(folded)
            if unit is not None and (len(unit) <= _SHORT_UNIT or is_common(unit)):
                reasons.append(REPEATED)
        if username is not None and any(
            fragment in folded for fragment in _username_fragments(username)
        ):
            reasons.append(HAS_USERNAME)
        if any(name in folded for name in SERVICE_NAMES):
            reasons.append(HAS_SERVICE)
        return tuple(reasons)

    def check(self, password: str, *, username: str | None = None) -> None:
        """Return if `password` is acceptable for `username`; raise `PasswordRejected` if not."""
        reasons = self.problems(password, username=username)
        if reasons:
            raise PasswordRejected(reasons)


POLICY = PasswordPolicy()


def check_password(password: str, *, username: str | None = None) -> None:
    """`POLICY.check`: raise `PasswordRejected` with every reason, or return."""
    POLICY.check(password, username=username)
