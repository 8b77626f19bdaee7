"""Who is asking, reduced to what the policy engine decides on (`policies.decision.Caller`).

Guarantees: a `Caller` carries the kind of account, the login methods, staff roles and token
scopes, and nothing else: no account id, username, session id, token or key, so nothing secret
can reach a decision, a log line or an error through it. No principal means the anonymous
caller, which the engine lets do only what needs no login.
"""

from __future__ import annotations

from typing import cast

from app.services.auth.sessions import Principal
from app.services.oauth.bearer import InstitutionPrincipal
from policies.decision import Caller, CallerKind

ANONYMOUS = Caller(kind="anonymous")
#: The payment provider, once its notification's HMAC signature has been verified.
PAYMENT_PROVIDER = Caller(kind="payment_provider", methods=frozenset({"hmac"}))
_SESSION_KINDS: frozenset[str] = frozenset({"subject", "staff", "institution"})


def caller_for(principal: Principal | None) -> Caller:
    """The caller behind a login session (None: anonymous). An account of a kind the policy
    does not know is treated as anonymous (fail closed)."""
    if principal is None or principal.kind not in _SESSION_KINDS:
        return ANONYMOUS
    return Caller(
        kind=cast(CallerKind, principal.kind),
        methods=frozenset(principal.methods),
        roles=frozenset(principal.roles),
    )


def caller_for_institution(principal: InstitutionPrincipal) -> Caller:
    """The caller behind a live institution access token (client credentials)."""
    return Caller(kind="institution", methods=frozenset({"oauth"}), scopes=principal.scopes)
