"""The subject's own consents (`app.services.consent.own_consents`).

- `POST /api/v1/self/consents {"token"}`: 201 when new, 200 when it was registered already;
  400 with the reason code when refused, 409 `replayed` for a jti registered under other bytes.
- `GET /api/v1/self/consents`: every consent of the caller (uses, expiry, revocation).
- `POST /api/v1/self/consents/<jti>/revoke`: revokes it at once (idempotent).

The gate checks the session's CSRF token on the POSTs.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.services.consent.own_consents import OwnConsents
from app.services.policy import Action
from app.web.answers import asker, http, sent_body, wired
from app.web.gate import bound_to

bp = Blueprint("consents", __name__, url_prefix="/api/v1/self/consents")


@bp.post("")
@bound_to(Action.SELF_CONSENT_CREATE)
def create() -> tuple[Response, int]:
    return http(OwnConsents(wired()).register(asker(), sent_body()))


@bp.get("")
@bound_to(Action.SELF_CONSENT_READ)
def listing() -> tuple[Response, int]:
    return http(OwnConsents(wired()).listing(asker()))


@bp.post("/<jti>/revoke")
@bound_to(Action.SELF_CONSENT_REVOKE)
def revoke(jti: str) -> tuple[Response, int]:
    return http(OwnConsents(wired()).revoke(asker(), jti))
