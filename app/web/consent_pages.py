"""The subject's consents as a page: `GET /consents` (every consent: institution, purpose,
uses, expiry, status; how to make one) and `POST /consents/<jti>/revoke`.

Guarantees:
- both run the API's own use case (`OwnConsents.listing`, `OwnConsents.revoke`) with the same
  asker and so the same decision; a revocation binds at once;
- a consent is signed by the card's private key, which never leaves the card: the page does not
  create one, it shows the client command that signs it on the card (`python -m app.client
  consent create ...`); a token is never shown on a page;
- the views name no database, unit or SQL (import contract "Views name no database").
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from app.services.consent.own_consents import OwnConsents
from app.services.outcomes import Answered
from app.services.policy import Action
from app.web.answers import asker, wired
from app.web.gate import bound_to
from app.web.locale import current
from app.web.pages import page, refused_page
from app.web.report_view import city_time

bp = Blueprint("consent_pages", __name__)


@bp.get("/consents")
@bound_to(Action.SELF_CONSENT_READ)
def consents() -> Response:
    answer = OwnConsents(wired()).listing(asker())
    if not isinstance(answer, Answered):
        return refused_page(answer)
    purposes = wired().policy.purposes
    locale = current()
    shown = []
    for consent in answer.document["consents"]:
        purpose = purposes.get(str(consent.get("purpose")))
        title = str(consent.get("purpose"))
        if purpose is not None:
            title = purpose.title_zh if locale == "zh" else purpose.title
        expires = consent.get("expires_at")
        shown.append(
            {
                **consent,
                "purpose_title": title,
                "expires": city_time(str(expires)) if expires else "",
            }
        )
    return page(
        "consents.html",
        consents=shown,
        revoked=request.args.get("revoked") == "1",
        purposes=sorted(purposes),
        max_days=wired().policy.consent_max_days,
    )


@bp.post("/consents/<jti>/revoke")
@bound_to(Action.SELF_CONSENT_REVOKE)
def revoke(jti: str) -> ResponseReturnValue:
    answer = OwnConsents(wired()).revoke(asker(), jti)
    if not isinstance(answer, Answered):
        return refused_page(answer, back=url_for("consent_pages.consents"))
    return redirect(url_for("consent_pages.consents", revoked="1"), 303)
