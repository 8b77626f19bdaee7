"""Who did an enrolment step and how it is logged: one query-log entry per step, allowed or
refused, in the unit of work that makes (or refuses) the change.

Guarantees: an entry names the actor by kind and account id (never a username), the subject
only by the blind index of their ID number, the action, the decision and a snake_case reason;
never an ID number, name, password, certificate or key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.services.querylog.log import QueryAttempt, QueryLog


@dataclass(frozen=True)
class Actor:
    """The person (or, for a lost-card report, the caller) taking an enrolment step."""

    kind: str  # staff | subject | anonymous
    account_id: uuid.UUID | None
    request_id: str
    client_address: str

    @property
    def ref(self) -> str:
        return "anonymous" if self.account_id is None else str(self.account_id)


@dataclass(frozen=True)
class StepOutcome:
    """What a step came to: `refused` is None when it was done; `message` is safe to show."""

    refused: str | None = None
    message: str = ""

    @property
    def done(self) -> bool:
        return self.refused is None


def log_step(
    db: Session,
    log: QueryLog,
    actor: Actor,
    action: str,
    *,
    refused: str | None,
    subject_bidx: bytes | None,
    at: datetime,
) -> None:
    """Append the step's entry in the unit `db` (no try/except: a failure rolls it all back)."""
    log.append(
        db,
        QueryAttempt(
            action=action,
            decision="allowed" if refused is None else "denied",
            reason="done" if refused is None else refused,
            actor_kind=actor.kind,
            actor_ref=actor.ref,
            request_id=actor.request_id,
            client_address=actor.client_address,
            subject_bidx=subject_bidx,
            at=at,
        ),
    )
