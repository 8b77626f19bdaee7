"""The policy engine as the web layer and the services see it.

`web/` may not import `policies/` directly (import-linter); it names actions through this module.
"""

from __future__ import annotations

from policies.actions import QUERY_TIERS, Action, parse_action

__all__ = ["QUERY_TIERS", "Action", "parse_action"]
