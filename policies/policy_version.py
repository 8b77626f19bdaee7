"""The policy version: the hash every decision and log entry names.

Guarantees: `policy_version` is the SHA-256 (hex) of the canonical JSON of the parsed,
defaults-applied policy (keys sorted, rules keyed by id, purposes by code, no insignificant
whitespace, UTF-8). Comments, whitespace and the order of tables do not change it; any change of
meaning does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from policies.policy_model import LIMIT_KEYS, PolicyData


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _sorted(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


def policy_version(data: PolicyData) -> str:
    """SHA-256 (hex) of the canonical JSON of the parsed data (independent of `version`)."""
    doc: dict[str, Any] = {
        "schema": 1,
        "limits": {k: getattr(data.limits, k) for k in LIMIT_KEYS},
        "fees": {n: [f.amount_fen, f.free_per_year] for n, f in data.fees.items()},
        "tiers": {
            t: {"disclosures": sorted(s.disclosures), "identity": dict(s.identity)}
            for t, s in data.tiers.items()
        },
        "actions": {
            a.value: {
                "strength": s.strength.value,
                "relation": s.relation,
                "tier": s.tier,
                "releases": s.releases,
                "fee": None if s.fee is None else [s.fee.amount_fen, s.fee.free_per_year],
                "daily_limit": s.daily_limit,
            }
            for a, s in data.actions.items()
        },
        "rules": {
            r.id: {
                "effect": r.effect,
                "actions": sorted(r.actions),
                "callers": _sorted(r.callers),
                "roles": _sorted(r.roles),
                "scopes": sorted(r.scopes),
                "relations": _sorted(r.relations),
                "conditions": sorted(r.conditions),
                "reason": r.reason,
            }
            for r in data.rules
        },
        "purposes": {
            p.code: [p.title, p.title_zh, sorted(p.categories), p.fee_fen]
            for p in data.purposes.values()
        },
    }
    return hashlib.sha256(_canonical(doc)).hexdigest()
