"""An institution's report about a subject under the subject's consent token
(`institution:report:query`).

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- the body is exactly `{"id_number", "purpose", "consent_token"}`, three strings within their
  limits; the ID number passes its check, the purpose is one of the closed list. Anything
  else is bad input (400), logged as denied, with the purpose only when it is a listed one;
- the only HSM call is the blind index of the ID number (the subject is found by it; the number
  itself is never stored, logged or put in a message);
- the consent is verified and its use counted, the engine decides with the verified facts
  (categories = purpose ∩ consent scope, institution masks), and the fee is debited from the
  institution's prepaid ledger, all inside one savepoint of the writing unit: a refused
  consent, a denying decision or insufficient funds (402) rolls it back, so no use is counted
  and nothing is debited;
- exactly one entry per attempt, naming the purpose, the subject's blind index, the fee and the
  consent's jti — only once the token's signature has verified (a forged token's jti is the
  forger's word and is never recorded);
- an unknown subject, a kid that is none of the subject's cards and a forged signature are
  answered `not_found` with the same body (no hint whether the subject exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select

from app.models import Subject
from app.services.billing.ledger import InsufficientFunds, LedgerService
from app.services.consent.consents import NOT_FOUND_REASONS, ConsentRules, ConsentService
from app.services.consent.tokens import ConsentRefused
from app.services.outcomes import (
    Answer,
    Answered,
    RefusalKind,
    Refused,
    bad_input,
    body_refusal,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.reports.assembly import SECTION_BY_CATEGORY, ReportService
from app.services.rights.disputes import record_released
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.fields import FieldCipher
from crypto.keys import KeyProvider
from policies.actions import Action
from policies.catalog import Catalog
from policies.decision import Target
from policies.identifiers import InvalidIdentifier, parse_citizen_id

FIELDS = ("id_number", "purpose", "consent_token")
MAX_TOKEN_CHARS = 8192
NOT_FOUND_MESSAGE = "No subject with a valid consent for this institution was found."
CONSENT_MESSAGES: Mapping[str, str] = {
    "malformed": "The consent token is malformed.",
    "expired": "The consent token has expired.",
    "not_yet_valid": "The consent token is issued in the future.",
    "too_long": "The consent token is valid for longer than the policy allows.",
    "wrong_audience": "The consent token is for another institution.",
    "wrong_purpose": "The consent token does not cover this purpose.",
    "wrong_subject": "The consent token is for another subject.",
    "revoked": "The subject has revoked this consent.",
    "used_up": "The consent token has no uses left.",
    "replayed": "A different token with this id was presented before.",
}


class InstitutionParts(Parts, Protocol):
    @property
    def cipher(self) -> FieldCipher: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def key_provider(self) -> KeyProvider: ...


def consent_refusal(reason: str) -> Refused:
    if reason in NOT_FOUND_REASONS:
        return Refused(RefusalKind.NOT_FOUND, "not_found", NOT_FOUND_MESSAGE)
    kind = RefusalKind.BAD_INPUT if reason == "malformed" else RefusalKind.FORBIDDEN
    return Refused(kind, reason, CONSENT_MESSAGES.get(reason, "The consent token is refused."))


def insufficient_funds() -> Refused:
    return Refused(
        RefusalKind.PAYMENT_REQUIRED,
        "payment_required",
        "The prepaid balance does not cover this query's fee; top it up first.",
    )


class InstitutionReports:
    def __init__(self, parts: InstitutionParts) -> None:
        self.parts = parts
        self.reports = ReportService(
            parts.cipher, parts.catalog, policy_version=parts.policy.version
        )
        self.consents = ConsentService(ConsentRules.of(parts.policy))
        self.ledger = LedgerService()

    def query(self, asker: Asker, body: Body) -> Answer:
        return run_logged(
            self.parts, Action.INSTITUTION_REPORT_QUERY, asker, lambda q: self._run(q, body)
        )

    def _run(self, q: LoggedQuery, body: Body) -> Answer:
        asked = self._parse(q, body)
        if isinstance(asked, _BadBody):
            with q.unit() as db:
                q.deny(db, asked.reason)
            return asked.refusal
        id_number, token = asked.id_number, asked.token
        q.subject_bidx = blind_index(self.parts.key_provider, BlindIndexKind.CITIZEN_ID, id_number)
        with q.unit() as db:
            subject = db.scalars(select(Subject).where(Subject.id_bidx == q.subject_bidx)).first()
            assert q.purpose is not None
            assert q.asker.institution_id is not None
            savepoint = db.begin_nested()
            try:
                consent = self.consents.verify_and_use(
                    db,
                    token,
                    institution_client_id=q.asker.actor_ref,
                    subject=subject,
                    purpose=q.purpose,
                    now=q.at,
                )
            except ConsentRefused as refused:
                savepoint.rollback()
                q.consent_jti = refused.verified_jti
                q.deny(db, refused.reason)
                return consent_refusal(refused.reason)
            q.consent_jti = consent.jti
            target = Target(relation="other", purpose=q.purpose, consent=consent.facts)
            decision = q.decide(target)
            if not decision.allowed or decision.obligations is None:
                savepoint.rollback()
                q.deny(db)
                return refusal_for(decision)
            fee = decision.obligations.fee.amount_fen
            if fee > 0:
                try:
                    self.ledger.debit(
                        db,
                        institution_id=q.asker.institution_id,
                        amount_fen=fee,
                        reference=f"consent:{consent.jti}:{q.asker.request_id}"[:128],
                    )
                except InsufficientFunds:
                    savepoint.rollback()
                    q.deny(db, "insufficient_funds")
                    return insufficient_funds()
            savepoint.commit()
            opened = self.reports.open(db.connection(), subject=subject, decision=decision, on=q.on)
            shaped = self.reports.shape(opened, decision=decision)
            document = self.reports.document(
                shaped, decision=decision, kind="institution", on=q.on, fee_fen=fee
            )
            entry = q.allow(db, released=shaped.released, fee_fen=fee)
            record_released(
                db,
                log_seq=entry.seq,
                institution_id=q.asker.institution_id,
                record_ids=(
                    record["id"]
                    for section in SECTION_BY_CATEGORY.values()
                    for record in shaped.sections[section]
                ),
                at=q.at,
            )
        return Answered(document)

    def _parse(self, q: LoggedQuery, body: Body) -> _Asked | _BadBody:
        """What the body asks, or why it is not a query; sets the attempt's purpose when it
        is one of the closed list."""
        if body.problem is not None:
            return _BadBody(body.problem, body_refusal(body.problem, body.why))
        sent = body.value
        if not isinstance(sent, dict) or set(sent) != set(FIELDS):
            return _malformed('Send {"id_number", "purpose", "consent_token"} only.')
        raw_id, purpose, token = (sent[name] for name in FIELDS)
        if not all(isinstance(value, str) and value for value in (raw_id, purpose, token)):
            return _malformed("id_number, purpose and consent_token must be strings.")
        if purpose in self.parts.policy.purposes:
            q.purpose = purpose
        if len(token) > MAX_TOKEN_CHARS or len(raw_id) > 32:
            return _malformed("A field is longer than allowed.")
        try:
            id_number = parse_citizen_id(raw_id).value
        except InvalidIdentifier:
            refusal = bad_input("id_number is not a valid ID number (check character).")
            return _BadBody("bad_id_number", refusal)
        if q.purpose is None:
            refusal = bad_input("purpose is not one of the allowed purposes.")
            return _BadBody("bad_purpose", refusal)
        return _Asked(id_number, token)


@dataclass(frozen=True)
class _Asked:
    id_number: str  # normalised; never logged
    token: str = field(repr=False)


@dataclass(frozen=True)
class _BadBody:
    reason: str  # the log's reason code
    refusal: Refused


def _malformed(message: str) -> _BadBody:
    return _BadBody("malformed_body", bad_input(message))
