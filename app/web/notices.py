"""`GET /api/v1/self/notices`: the prior notices of negative records furnished about the caller
(Art. 15: the provider must tell the subject beforehand; here the subject sees what each
provider says it did, and when). Only a subject logged in with password + card; a subject sees
only their own. The inbox that pushes notices to the subject is a later issue.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.container import container
from app.services.auth.callers import caller_for
from app.services.intake.notices import notices_for
from app.services.outcomes import refusal_for
from app.services.policy import Action, Target
from app.web.answers import http
from app.web.gate import bound_to
from app.web.identity import current_principal

bp = Blueprint("notices", __name__, url_prefix="/api/v1/self/notices")


@bp.get("")
@bound_to(Action.SELF_NOTICE_READ)
def listing() -> Response | tuple[Response, int]:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    parts = container()
    own = principal.kind == "subject" and principal.subject_id is not None
    decision = parts.policy.decide(
        caller_for(principal),
        Action.SELF_NOTICE_READ,
        Target(relation="own" if own else "none"),
        on=parts.clock.today(),
    )
    if not decision.allowed or principal.subject_id is None:
        return http(refusal_for(decision))
    with parts.unit() as db:
        notices = notices_for(db, principal.subject_id, parts.catalog)
    return jsonify(notices=notices)
