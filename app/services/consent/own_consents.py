"""A subject's own consents (`self:consent:create|read|revoke`): register a token they signed,
list them, revoke one.

Guarantees: only a subject logged in with password and card, about their own subject, is
allowed (the policy engine decides: staff and weaker logins are refused); a token is
registered only if one of the subject's live cards signed it and it names them; a revocation
binds at once, also a token never registered (by its jti, for this subject only); tokens are
never logged or echoed back. These are not queries of credit data: they write no query-log
entry.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.services.consent.consents import ConsentRules, ConsentService
from app.services.consent.tokens import ConsentRefused
from app.services.outcomes import (
    TOO_LARGE,
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, Parts
from policies.actions import Action
from policies.decision import Decision, Target

MAX_TOKEN_CHARS = 8192
REFUSALS: Mapping[str, str] = {
    "malformed": "The token is not a well-formed consent token.",
    "unknown_card": "The token is not signed by one of your active cards.",
    "forged_signature": "The token's signature does not verify under your card.",
    "wrong_subject": "The token names someone else as its subject.",
    "unknown_institution": "The token's audience is not a registered institution.",
    "wrong_purpose": "The token's purpose is not one of the allowed purposes.",
    "expired": "The token has expired.",
    "not_yet_valid": "The token is issued in the future.",
    "too_long": "The token is valid for longer than the policy allows.",
    "revoked": "This consent was revoked.",
    "replayed": "A different token with this jti is registered already.",
}


class OwnConsents:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.consents = ConsentService(ConsentRules.of(parts.policy))

    def register(self, asker: Asker, body: Body) -> Answer:
        decision = self._decide(asker, Action.SELF_CONSENT_CREATE)
        if not decision.allowed or asker.subject_id is None:
            return refusal_for(decision)
        if body.problem == TOO_LARGE:
            return body_refusal(body.problem)
        token = body.value.get("token") if isinstance(body.value, dict) else None
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            return bad_input(body.why or 'Send {"token": <consent token>}.')
        now = self.parts.clock.now()
        try:
            with self.parts.unit() as db:
                view, new = self.consents.register(db, token, subject_id=asker.subject_id, now=now)
        except ConsentRefused as refused:
            kind = RefusalKind.CONFLICT if refused.reason == "replayed" else RefusalKind.BAD_INPUT
            message = REFUSALS.get(refused.reason, "The consent token is refused.")
            return Refused(kind, refused.reason, message)
        return Answered({"consent": view.as_json(now)}, created=new)

    def listing(self, asker: Asker) -> Answer:
        decision = self._decide(asker, Action.SELF_CONSENT_READ)
        if not decision.allowed or asker.subject_id is None:
            return refusal_for(decision)
        now = self.parts.clock.now()
        with self.parts.unit() as db:
            views = self.consents.list_for(db, asker.subject_id)
        return Answered({"consents": [view.as_json(now) for view in views]})

    def revoke(self, asker: Asker, jti: str) -> Answer:
        decision = self._decide(asker, Action.SELF_CONSENT_REVOKE)
        if not decision.allowed or asker.subject_id is None:
            return refusal_for(decision)
        now = self.parts.clock.now()
        try:
            with self.parts.unit() as db:
                revocation = self.consents.revoke(db, jti, subject_id=asker.subject_id, now=now)
        except ConsentRefused:
            return bad_input("That is not a consent token id (jti): 16-128 of A-Z a-z 0-9 _ -.")
        return Answered(revocation.as_json(now))

    def _decide(self, asker: Asker, action: Action) -> Decision:
        target = Target(relation="own" if asker.subject_id is not None else "none")
        return self.parts.policy.decide(asker.caller, action, target, on=self.parts.clock.today())
