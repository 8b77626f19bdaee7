"""The public verification of an issued PDF report (`public:report:verify`): "valid" or "not
valid", never contents.

Anyone (no login) may check a PDF file or a paper copy's reference and report id. Guarantees
(on top of those of every logged query, `app.services.querylog.attempt`):
- the answer is `valid` with the issue time, or `not valid` with a reason from `REASONS`
  (`not_a_pdf`, `not_signed`, `altered`, `not_ours`, `unknown_document`,
  `unknown_reference`); nothing of the report (subject, records, kind, fee) is ever said;
- a file is valid only if its exact bytes were issued here (SHA-256 recorded at issue) *and*
  its one signature is intact, covers the whole file and chains to the report CA's root;
  a reference is valid only together with the report id issued with it;
- every attempt writes exactly one entry: allowed with the verdict as its reason, or denied
  (`bad_request`, `body_too_large`, `rate_limited`, a policy refusal); it names the caller and
  address but no subject, reference, report id or file hash;
- each client address has `report_verifications_per_hour` checks an hour (policy data),
  counted atomically in the attempt's first unit; input refused as malformed uses none up;
- the signature check (CPU only) runs between two short units, holding no write lock.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, and_, case, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from app.models.reports import ReportVerificationUse
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
from app.services.querylog.attempt import Asker, Body, LoggedQuery, Parts, run_logged
from app.services.reports.pdf import certificates, issued, signing
from policies.actions import Action
from policies.decision import Target

ACTION = Action.PUBLIC_REPORT_VERIFY
#: The largest file the verification takes (an issued report is far smaller).
MAX_PDF_BYTES = 8 * 1024 * 1024
REASONS = (
    "valid",
    *(problem.value for problem in signing.SignatureProblem),
    "unknown_document",
    "unknown_reference",
)
_USES = cast(Table, ReportVerificationUse.__table__)
_SEND = 'Send the PDF (Content-Type: application/pdf) or {"reference", "report_id"}.'


@dataclass(frozen=True)
class Verdict:
    """`valid`, the issue time when valid, or the reason (one of `REASONS`) when not."""

    valid: bool
    reason: str
    issued_at: datetime | None = None

    def document(self) -> dict[str, object]:
        if self.valid:
            assert self.issued_at is not None
            return {"valid": True, "issued_at": self.issued_at.isoformat()}
        return {"valid": False, "reason": self.reason}


def rate_limited() -> Refused:
    return Refused(
        RefusalKind.LIMIT_REACHED,
        "rate_limited",
        "Too many verifications from this address; try again in an hour.",
    )


class ReportVerification:
    """The use case; see the module docstring. `Answered` documents are `Verdict.document()`;
    a refusal for bad input carries `details["input"]`: nothing, file, reference, report_id or
    request (what to fix, for the page)."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def check_document(self, asker: Asker, pdf: bytes | None, problem: str | None = None) -> Answer:
        """A PDF file (`problem`: why the body could not be read, e.g. too large)."""
        return run_logged(self.parts, ACTION, asker, lambda q: self._document(q, pdf, problem))

    def check_reference(self, asker: Asker, reference: object, report_id: object) -> Answer:
        return run_logged(
            self.parts, ACTION, asker, lambda q: self._reference(q, reference, report_id)
        )

    def check_body(self, asker: Asker, body: Body) -> Answer:
        """A JSON body `{"reference", "report_id"}`."""
        sent = body.value
        if (
            body.problem is not None
            or not isinstance(sent, dict)
            or set(sent)
            != {
                "reference",
                "report_id",
            }
        ):
            refused = body_refusal(body.problem) if body.problem else _bad("request", _SEND)
            return run_logged(
                self.parts, ACTION, asker, lambda q: self._refuse(q, body.problem, refused)
            )
        return self.check_reference(asker, sent["reference"], sent["report_id"])

    def refuse_input(self, asker: Asker, what: str, message: str) -> Answer:
        """An attempt whose input is refused before any check: logged, nothing used up."""
        return run_logged(
            self.parts, ACTION, asker, lambda q: self._refuse(q, None, _bad(what, message))
        )

    # ------------------------------------------------------------------------ use cases

    def _document(self, q: LoggedQuery, pdf: bytes | None, problem: str | None) -> Answer:
        if problem is not None or (pdf is not None and len(pdf) > MAX_PDF_BYTES):
            return self._refuse(q, TOO_LARGE, body_refusal(TOO_LARGE))
        if not pdf:
            return self._refuse(q, None, _bad("file", "Send the PDF file of the report."))
        refused = self._admit(q)
        if refused is not None:
            return refused
        with q.snapshot() as db:
            root = certificates.the_root(db)
        checked = signing.check(pdf, root=root)  # CPU only, no unit open
        digest = hashlib.sha256(pdf).digest()
        with q.unit() as db:
            found = issued.by_document(db.connection(), digest)
            if not checked.sound:
                assert checked.problem is not None
                verdict = Verdict(False, checked.problem.value)
            elif found is None:
                verdict = Verdict(False, "unknown_document")
            else:
                verdict = Verdict(True, "valid", found.issued_at)
            q.allow(db, reason=verdict.reason)
        return Answered(verdict.document())

    def _reference(self, q: LoggedQuery, reference: object, report_id: object) -> Answer:
        try:
            typed = issued.parse_reference(reference if isinstance(reference, str) else "")
        except issued.BadReference as bad:
            return self._refuse(q, None, _bad("reference", str(bad)))
        try:
            report = uuid.UUID(report_id.strip() if isinstance(report_id, str) else "")
        except ValueError:
            message = "The report id is the 36-character id printed on the report."
            return self._refuse(q, None, _bad("report_id", message))
        refused = self._admit(q)
        if refused is not None:
            return refused
        with q.unit() as db:
            found = issued.by_reference(db.connection(), typed, report)
            verdict = (
                Verdict(False, "unknown_reference")
                if found is None
                else Verdict(True, "valid", found.issued_at)
            )
            q.allow(db, reason=verdict.reason)
        return Answered(verdict.document())

    # ------------------------------------------------------------------------ machinery

    def _admit(self, q: LoggedQuery) -> Refused | None:
        """Decide, and take one of the address's checks of the hour in a unit of its own; a
        refusal is logged there and returned."""
        decision = q.decide(Target())
        with q.unit() as db:
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            limit = self.parts.policy.report_verifications_per_hour
            if not take_use(db.connection(), q.asker.client_address, q.at, limit):
                q.deny(db, "rate_limited")
                return rate_limited()
        return None

    @staticmethod
    def _refuse(q: LoggedQuery, problem: str | None, refused: Refused) -> Refused:
        with q.unit() as db:
            q.deny(db, "body_too_large" if problem == TOO_LARGE else "bad_request")
        return refused


def _bad(what: str, message: str) -> Refused:
    refused = bad_input(message)
    return Refused(refused.kind, refused.error, refused.message, {"input": what})


def take_use(connection: Connection, address: str, now: datetime, limit: int) -> bool:
    """One of `address`'s `limit` verifications in the hour of `now`; False once used up.

    One row per address: a guarded `UPDATE` restarts the count in a new hour or raises it
    while below `limit`; the row is created (count 0) on the address's first use and the
    same UPDATE decides once more, so concurrent requests never take more than `limit`.
    """
    if limit <= 0:
        return False
    hour = now.replace(minute=0, second=0, microsecond=0)
    key = address[:64]
    raise_it = (
        update(_USES)
        .where(
            _USES.c.client_address == key,
            or_(_USES.c.hour != hour, and_(_USES.c.hour == hour, _USES.c.used < limit)),
        )
        .values(used=case((_USES.c.hour == hour, _USES.c.used + 1), else_=1), hour=hour)
    )
    if connection.execute(raise_it).rowcount == 1:
        return True
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert(_USES).values(client_address=key, hour=hour, used=0).on_conflict_do_nothing()
    )
    return connection.execute(raise_it).rowcount == 1
