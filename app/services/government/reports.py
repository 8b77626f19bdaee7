"""A government agency's report about a subject on a legal basis (`government:report:query`).

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- the body is exactly `{"id_number", "purpose", "legal_basis": {"regulation", "reference"}}`;
  the ID number passes its check, the purpose is one of the government data's closed list and
  the legal basis is well-formed (`policies.government.parse_legal_basis`). Anything else is
  bad input (400), logged as denied — with the purpose only when it is a listed one and the
  legal basis only when it is well-formed;
- the engine decides with the legal basis and the purposes the agency is registered for: a
  purpose it is not registered for, or a regulation the purpose may not cite, is refused (403)
  and logged as denied; an allowed answer releases only the purpose's categories, with the
  catalog's institution masks; no fee;
- every entry of the attempt — allowed or denied — records the legal basis reference
  (`query_log.legal_basis`, inside the hash chain) next to the purpose and the agency's
  client id, so the compliance review finds it and the subject sees it in their query records;
- the only HSM call is the blind index of the ID number (never stored, logged or put in a
  message); an unknown subject is `not_found`, logged as denied (`no_such_subject`);
- reads come from one snapshot; the entry is appended in the writing unit, whose commit
  releases the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from app.models import Subject
from app.services.government.agencies import registered_purposes
from app.services.outcomes import (
    Answer,
    Answered,
    Refused,
    bad_input,
    body_refusal,
    not_found,
    refusal_for,
)
from app.services.querylog.attempt import Asker, Body, LoggedQuery, run_logged
from app.services.reports.assembly import ReportService, SubjectRef
from app.services.reports.institution_report import InstitutionParts
from crypto.blind_index import BlindIndexKind, blind_index
from policies.actions import Action
from policies.decision import LegalBasisFacts, Target
from policies.government import LegalBasis, parse_legal_basis
from policies.identifiers import InvalidIdentifier, parse_citizen_id

FIELDS = ("id_number", "purpose", "legal_basis")
NOT_FOUND_MESSAGE = "No subject with this ID number is on record."
_SUBJECTS = cast(Table, Subject.__table__)


class GovernmentReports:
    def __init__(self, parts: InstitutionParts) -> None:
        self.parts = parts
        self.reports = ReportService(
            parts.cipher, parts.catalog, policy_version=parts.policy.version
        )

    def query(self, asker: Asker, body: Body) -> Answer:
        return run_logged(
            self.parts, Action.GOVERNMENT_REPORT_QUERY, asker, lambda q: self._run(q, body)
        )

    def _run(self, q: LoggedQuery, body: Body) -> Answer:
        asked = self._parse(q, body)
        if isinstance(asked, _BadBody):
            with q.unit() as db:
                q.deny(db, asked.reason)
            return asked.refusal
        q.subject_bidx = blind_index(
            self.parts.key_provider, BlindIndexKind.CITIZEN_ID, asked.id_number
        )
        assert q.asker.institution_id is not None
        with q.snapshot() as db:
            facts = LegalBasisFacts(
                regulation=asked.basis.regulation,
                registered_purposes=registered_purposes(db, q.asker.institution_id),
            )
            decision = q.decide(Target(relation="other", purpose=q.purpose, legal_basis=facts))
            subject = _subject(db, q.subject_bidx) if decision.allowed else None
            opened = None
            if subject is not None:
                opened = self.reports.open(db, subject=subject, decision=decision, on=q.on)
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            if opened is None:
                q.deny(db, "no_such_subject")
                return not_found(NOT_FOUND_MESSAGE)
            shaped = self.reports.shape(opened, decision=decision)
            document = self.reports.document(shaped, decision=decision, kind="government", on=q.on)
            document["report"]["legal_basis"] = {
                "regulation": asked.basis.regulation,
                "reference": asked.basis.reference,
            }
            q.allow(db, released=shaped.released)
        return Answered(document)

    def _parse(self, q: LoggedQuery, body: Body) -> _Asked | _BadBody:
        """What the body asks, or why it is not a query; sets the attempt's purpose and legal
        basis when they are well-formed."""
        if body.problem is not None:
            return _BadBody(body.problem, body_refusal(body.problem, body.why))
        sent: Any = body.value
        if not isinstance(sent, dict) or set(sent) != set(FIELDS):
            return _malformed('Send {"id_number", "purpose", "legal_basis"} only.')
        raw_id, purpose, raw_basis = (sent[name] for name in FIELDS)
        if not (isinstance(raw_id, str) and raw_id and isinstance(purpose, str) and purpose):
            return _malformed("id_number and purpose must be strings.")
        government = self.parts.policy.government
        if purpose in government.purposes:
            q.purpose = purpose
        basis = parse_legal_basis(raw_basis, government)
        if isinstance(basis, str):
            return _BadBody("bad_legal_basis", bad_input(basis))
        q.legal_basis = basis.reference_text
        if len(raw_id) > 32:
            return _malformed("A field is longer than allowed.")
        try:
            id_number = parse_citizen_id(raw_id).value
        except InvalidIdentifier:
            refusal = bad_input("id_number is not a valid ID number (check character).")
            return _BadBody("bad_id_number", refusal)
        if q.purpose is None:
            refusal = bad_input("purpose is not one of the administrative purposes.")
            return _BadBody("bad_purpose", refusal)
        return _Asked(id_number, basis)


def _subject(db: Connection, id_bidx: bytes) -> SubjectRef | None:
    row = db.execute(
        select(_SUBJECTS.c.id, _SUBJECTS.c.id_bidx, _SUBJECTS.c.identity).where(
            _SUBJECTS.c.id_bidx == id_bidx
        )
    ).one_or_none()
    return None if row is None else SubjectRef(row.id, row.id_bidx, row.identity)


@dataclass(frozen=True)
class _Asked:
    id_number: str  # normalised; never logged
    basis: LegalBasis


@dataclass(frozen=True)
class _BadBody:
    reason: str  # the log's reason code
    refusal: Refused


def _malformed(message: str) -> _BadBody:
    return _BadBody("malformed_body", bad_input(message))
