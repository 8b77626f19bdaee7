"""`GET /api/v1/self/notices`: the prior notices of negative records furnished about the caller
(Art. 15; use case `app.services.intake.notices.OwnNotices`): only a subject logged in with
password + card, and only their own.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.services.intake.notices import OwnNotices
from app.services.policy import Action
from app.web.answers import asker, http, wired
from app.web.gate import bound_to

bp = Blueprint("notices", __name__, url_prefix="/api/v1/self/notices")


@bp.get("")
@bound_to(Action.SELF_NOTICE_READ)
def listing() -> tuple[Response, int]:
    parts = wired()
    return http(OwnNotices(parts, parts.catalog).listing(asker()))
