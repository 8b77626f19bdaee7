"""The policy engine as the web layer and the services see it.

`web/` may not import `policies/` directly (import-linter); it names actions, decisions and
outcomes through this module.
"""

from __future__ import annotations

from policies.actions import QUERY_TIERS, Action, parse_action
from policies.decision import (
    Caller,
    ConsentFacts,
    Decision,
    Fee,
    Obligations,
    Outcome,
    Strength,
    Target,
)
from policies.engine import PolicyEngine

__all__ = [
    "QUERY_TIERS",
    "Action",
    "Caller",
    "ConsentFacts",
    "Decision",
    "Fee",
    "Obligations",
    "Outcome",
    "PolicyEngine",
    "Strength",
    "Target",
    "parse_action",
]
