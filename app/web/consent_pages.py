"""The subject's consents as a page: `GET /consents` (every consent: institution, purpose,
uses, expiry, status; how to make one) and `POST /consents/<jti>/revoke`.

Guarantees:
- both run the API's own use case (`OwnConsents.listing`, `OwnConsents.revoke`) with the same
  asker and so the same decision; a revocation binds at once;
- a consent is signed by the card's private key, which never leaves the card: the page does not
  create one, it shows the client commands that log in and sign it on the card, filled with
  this service's address and the subject's own username only; a token is never shown on a
  page;
- the views name no database, unit or SQL (import contract "Views name no database").
"""

from __future__ import annotations

import shlex

from flask import Blueprint, Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from app.services.consent.own_consents import OwnConsents
from app.services.consent.tokens import CATEGORIES
from app.services.outcomes import Answered
from app.services.policy import Action
from app.web.answers import asker, wired
from app.web.gate import bound_to
from app.web.identity import current_principal
from app.web.locale import current
from app.web.pages import page, refused_page
from app.web.report_view import city_time

#: Where Debian's opensc package puts the PKCS#11 library of common smart-card readers (the
#: client's default module is SoftHSM2, which holds the demo cards).
CARD_READER_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

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
    max_days = wired().policy.consent_max_days
    return page(
        "consents.html",
        consents=shown,
        revoked=request.args.get("revoked") == "1",
        purposes=sorted(purposes),
        max_days=max_days,
        commands=client_commands(max_days),
        card_module=CARD_READER_MODULE,
    )


def client_commands(max_days: int) -> tuple[str, str]:
    """The two client commands that make a consent, with what the page may fill in: this
    service's address and the subject's own username (both already known to whoever sees the
    page). The card's token label, the institution and the purpose stay placeholders; the
    password and the PIN are never part of a command (the client asks for them)."""
    principal = current_principal()
    username = "USERNAME" if principal is None else shlex.quote(principal.username)
    url = shlex.quote(wired().settings.public_url)
    login = f"python -m app.client login --url {url} --username {username} --token-label YOUR_CARD"
    create = (
        "python -m app.client consent create --institution CLIENT_ID --purpose PURPOSE"
        f" --days {min(30, max_days)} --scope {','.join(sorted(CATEGORIES))} --max-uses 1"
        " --token-label YOUR_CARD"
    )
    return login, create


@bp.post("/consents/<jti>/revoke")
@bound_to(Action.SELF_CONSENT_REVOKE)
def revoke(jti: str) -> ResponseReturnValue:
    answer = OwnConsents(wired()).revoke(asker(), jti)
    if not isinstance(answer, Answered):
        return refused_page(answer, back=url_for("consent_pages.consents"))
    return redirect(url_for("consent_pages.consents", revoked="1"), 303)
