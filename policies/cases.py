"""The life of a review case (ARCHITECTURE §10) as pure rules: which step an officer may take
on a case in which state, and what it leads to.

    open ──take──▶ in_review ──clear──▶ cleared
                      │
                      └──escalate──▶ escalated ──close──▶ closed

Guarantees (`check_step` answers None only if all hold):
- a step is taken only from the states listed in `STEPS` (else `wrong_state`, a conflict);
- only the officer reviewing a case clears it (`not_reviewer`);
- four eyes: the officer who reviewed a case cannot escalate it (`four_eyes_escalation`), and
  the officer who escalated it cannot close it (`four_eyes_closing`): each takes a second,
  different officer. (Whether the officer may see the case at all — not about themselves or
  their household — is the service's check, made before this one.)
- a note holding a valid citizen ID number is refused (`holds_id_number`): the number would
  be stored in the case's history;
- closing names an outcome the case allows (`bad_outcome`): a flag's case about an
  institution may suspend it; a case opened to lift a suspension may lift it; every case may
  end with no action. Clearing ends with the outcome `cleared`.
Nothing here reads a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from policies.identifiers import InvalidIdentifier, parse_citizen_id

#: step -> (the states it is taken from, the state it leads to; None: stays)
STEPS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "take": (("open",), "in_review"),
    "note": (("open", "in_review", "escalated"), None),
    "clear": (("in_review",), "cleared"),
    "escalate": (("in_review",), "escalated"),
    "close": (("escalated",), "closed"),
}
#: The past tense a step is recorded under (case history, log reasons).
DONE = {"take": "taken", "note": "noted", "clear": "cleared", "escalate": "escalated",
        "close": "closed"}  # fmt: skip
ACTIVE_STATES = ("open", "in_review", "escalated")
MAX_TEXT = 1000
_ID_LIKE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")

RefusalKind = Literal["forbidden", "conflict", "bad_input"]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    kind: str  # flag | lift_suspension
    state: str
    actor_kind: str | None
    reviewer: str | None  # account ids, as text
    escalated_by: str | None


@dataclass(frozen=True, slots=True)
class StepRefusal:
    kind: RefusalKind
    code: str
    message: str


def outcomes_for(facts: CaseFacts) -> tuple[str, ...]:
    """What closing this case may decide."""
    if facts.kind == "lift_suspension":
        return ("no_action", "lift_suspension")
    if facts.actor_kind == "institution":
        return ("no_action", "suspend_institution")
    return ("no_action",)


def next_state(state: str, step: str) -> str:
    return STEPS[step][1] or state


def is_overdue(state: str, deadline: date, today: date) -> bool:
    return state in ACTIVE_STATES and today > deadline


def check_step(
    facts: CaseFacts, step: str, officer: str, outcome: str | None = None
) -> StepRefusal | None:
    if step not in STEPS:
        return StepRefusal("bad_input", "bad_request", f"step is one of {', '.join(STEPS)}.")
    sources, _ = STEPS[step]
    if facts.state not in sources:
        return StepRefusal(
            "conflict", "wrong_state", f"A case that is {facts.state} cannot be sent to {step}."
        )
    if step == "clear" and facts.reviewer != officer:
        return StepRefusal(
            "forbidden", "not_reviewer", "Only the officer reviewing the case clears it."
        )
    if step == "escalate" and facts.reviewer == officer:
        return StepRefusal(
            "forbidden",
            "four_eyes_escalation",
            "Escalation needs a second officer: the officer who reviewed the case cannot "
            "escalate it alone.",
        )
    if step == "close":
        if facts.escalated_by == officer:
            return StepRefusal(
                "forbidden",
                "four_eyes_closing",
                "Closing an escalated case needs a second officer: the officer who escalated "
                "it cannot close it alone.",
            )
        if outcome not in outcomes_for(facts):
            return StepRefusal(
                "bad_input",
                "bad_outcome",
                f"outcome is one of {', '.join(outcomes_for(facts))} for this case.",
            )
    return None


def steps_open_to(facts: CaseFacts, officer: str) -> tuple[str, ...]:
    """The steps `officer` may take on the case now (for the forms a page shows)."""
    return tuple(
        step for step in STEPS if check_step(facts, step, officer, outcomes_for(facts)[0]) is None
    )


def clean_text(text: object) -> str | None:
    """An officer's note or reason: 1 to `MAX_TEXT` characters with no control characters
    but line breaks, trimmed; None when it is not."""
    if not isinstance(text, str):
        return None
    trimmed = text.strip()
    if not trimmed or len(trimmed) > MAX_TEXT:
        return None
    if not all(ch.isprintable() or ch in "\n\r\t" for ch in trimmed):
        return None
    return trimmed


def holds_id_number(text: str) -> bool:
    """Whether `text` holds a valid citizen ID number (a note must never: a case names its
    subject by blind index only)."""
    for found in _ID_LIKE.finditer(text):
        try:
            parse_citizen_id(found.group(0))
        except InvalidIdentifier:
            continue
        return True
    return False
