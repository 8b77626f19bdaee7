"""What a use case answers: a document, or a refusal the web layer turns into HTTP.

Guarantees: a `Refused` carries a kind (which the web maps to one status code), a short
snake_case `error` and a sentence safe to show; `details` hold only references the caller
already has or may have (an order id, a policy reason code) — never a record, an ID number or
a released value. `refusal_for(decision)` is the one mapping of a refusing policy decision: a
`not_found` refusal reads the same whatever the reason, so a caller cannot tell a missing
resource from one it may not know about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from policies.decision import Decision, Outcome

#: Why a request body could not be read (`app.services.querylog.attempt.Body.problem`).
TOO_LARGE = "body_too_large"
MALFORMED = "malformed_body"


class RefusalKind(StrEnum):
    BAD_INPUT = "bad_input"  # 400
    UNAUTHENTICATED = "unauthenticated"  # 401
    PAYMENT_REQUIRED = "payment_required"  # 402
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409
    GONE = "gone"  # 410
    TOO_LARGE = "too_large"  # 413
    LIMIT_REACHED = "limit_reached"  # 429


@dataclass(frozen=True)
class Refused:
    kind: RefusalKind
    error: str
    message: str
    details: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message, **self.details}


@dataclass(frozen=True)
class Attachment:
    """The answer as a file the caller asked for instead of the JSON (the signed PDF of a
    report): a rendering of the same document, made in the same unit of work."""

    content: bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class Answered:
    """The answer's JSON document; `created` when it made a new resource (201); `attachment`
    when the caller asked for the document as a file, which is then sent instead."""

    document: Mapping[str, Any]
    created: bool = False
    attachment: Attachment | None = None


#: What a use case returns.
Answer = Answered | Refused

_BY_DECISION: dict[Outcome, tuple[RefusalKind, str, str]] = {
    Outcome.UNAUTHENTICATED: (
        RefusalKind.UNAUTHENTICATED,
        "authentication_required",
        "Log in first.",
    ),
    Outcome.STEP_UP: (
        RefusalKind.FORBIDDEN,
        "step_up_required",
        "This needs a stronger login; log in again with your card (staff: with TOTP).",
    ),
    Outcome.DENY: (RefusalKind.FORBIDDEN, "forbidden", "You may not do this."),
    Outcome.NOT_FOUND: (RefusalKind.NOT_FOUND, "not_found", "Not found."),
}


def refusal_for(decision: Decision) -> Refused:
    """The refusal of a refusing decision; an allowing one is a programming error."""
    if decision.allowed:
        raise ValueError("an allowing decision is not a refusal")
    kind, error, message = _BY_DECISION[decision.outcome]
    details = {"reason": decision.reason} if decision.outcome is Outcome.DENY else {}
    return Refused(kind, error, message, details)


def bad_input(message: str) -> Refused:
    return Refused(RefusalKind.BAD_INPUT, "bad_request", message)


def not_found(message: str = "Not found.") -> Refused:
    return Refused(RefusalKind.NOT_FOUND, "not_found", message)


def payment_required(order_id: str, message: str = "This report needs a paid order.") -> Refused:
    return Refused(
        RefusalKind.PAYMENT_REQUIRED, "payment_required", message, {"order_id": order_id}
    )


def body_refusal(problem: str, why: str | None = None) -> Refused:
    """The refusal of a body that could not be read (too large, or not JSON: `why` says
    what was wrong with it when that is known, e.g. its encoding)."""
    if problem == TOO_LARGE:
        return Refused(
            RefusalKind.TOO_LARGE, "request_entity_too_large", "The request body is too large."
        )
    return bad_input(why or "The body must be a JSON object.")


def too_many_open_orders() -> Refused:
    return Refused(
        RefusalKind.CONFLICT,
        "too_many_open_orders",
        "You hold as many unpaid orders as allowed; pay one or let one expire first.",
    )
