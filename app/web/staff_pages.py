"""Browser pages for staff: the staff login, and the registrar's counter.

- `GET /login/staff` / `POST /login/staff`: username, password and TOTP code; if the browser
  presented a card through the trusted TLS proxy (mutual TLS, as at `/login/card`), the card
  enrolled for that staff account is added as the third factor (`CertificateStepUp`), else the
  session holds password + TOTP (enough for compliance officers, not for registrars). Public and
  CSRF-exempt like the subjects' login form (no session yet); any failure is the one message
  "Login failed." (401), throttled 429; nothing typed is put back but the username.
- `GET /registry` (registrars: password + TOTP + card): forms to enrol a subject, issue a card
  for a public key generated on the card, and replace a lost card; `POST /registry/enrol`,
  `/registry/cards`, `/registry/cards/replace` run the same steps as the API (each one a
  query-log entry) and show the outcome; the ID number and password are never put back into the
  page; an issued certificate is shown as PEM to write onto the card next to its key.
No inline script or style; never cached; POSTs carry the session's CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.container import container
from app.services.auth.accounts import AccountService, StaffLogin, login_username
from app.services.auth.card_login import certificate_common_name, certificate_from_header
from app.services.auth.cards import UnsupportedKey
from app.services.auth.login_attempts import AttemptLog, Outcome
from app.services.auth.step_up import CertificateStepUp, StepUpOutcome
from app.services.auth.totp import TotpService
from app.services.enrolment.registrar import REPLACEMENT_REASONS, RegistrarService, public_key_der
from app.services.enrolment.steps import Actor, StepOutcome
from app.services.policy import Action
from app.web.auth_card import forwarded_certificate
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import (
    LOGIN_FAILED,
    THROTTLED,
    client_address,
    current_principal,
    current_session_token,
    establish,
)
from app.web.registry import registrar_actor

bp = Blueprint("staff_pages", __name__)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _presented() -> bytes | None:
    return certificate_from_header(forwarded_certificate())


def _login_form(status: int = 200, *, message: str | None = None, username: str = "") -> Response:
    der = _presented()
    card_name = certificate_common_name(der) if der is not None else None
    return _page(
        "login_staff.html", status, card_name=card_name, message=message, username=username
    )


@bp.get("/login/staff")
@bound_to(Action.AUTH_LOGIN_PAGE_READ)
@public
def login_page() -> Response:
    return _login_form()


@bp.post("/login/staff")
@bound_to(Action.AUTH_SESSION_CREATE)
@public
@csrf_exempt
def login() -> ResponseReturnValue:
    username = login_username(request.form.get("username"))
    password, otp = request.form.get("password", ""), request.form.get("otp", "")
    if username is None or len(password) > 1024 or len(otp) > 16:
        return _login_form(400, message="Enter your username, password and code.")
    parts = container()
    address = client_address()
    with parts.unit() as db:
        result = StaffLogin(
            AttemptLog(parts.key_provider),
            TotpService(parts.keys, parts.cipher),
            AccountService(parts.passwords),
        ).login(
            db, username=username, password=password, code=otp, address=address,
            replaces=current_session_token(),
        )  # fmt: skip
    if result.outcome is Outcome.THROTTLED:
        return _login_form(429, message=THROTTLED["message"], username=username)
    if result.outcome is not Outcome.SUCCESS or result.token is None or result.principal is None:
        return _login_form(401, message=LOGIN_FAILED["message"], username=username)
    establish(result.token, result.principal)
    principal = result.principal
    der = _presented()
    if der is not None:
        with parts.unit() as db:
            stepped = CertificateStepUp(parts.key_provider).step_up(
                db, token=result.token, certificate=der, address=address
            )
        if stepped.outcome is StepUpOutcome.SUCCESS and stepped.token and stepped.principal:
            establish(stepped.token, stepped.principal)
            principal = stepped.principal
    if "registrar" in principal.roles and "card" in principal.methods:
        return redirect(url_for("staff_pages.registry"), 303)
    if "compliance" in principal.roles:
        return redirect(url_for("review_lists.page"), 303)
    return redirect(url_for("browser.account"), 303)


# --- the registrar's counter ---------------------------------------------------------------------


def _counter(status: int = 200, **context: Any) -> Response:
    principal = current_principal()
    values: dict[str, Any] = {
        "csrf_token": "" if principal is None else principal.csrf_token,
        "reasons": REPLACEMENT_REASONS,
        "outcome": None,
        "refused": None,
        "certificate": None,
        "forbidden": False,
    }
    values.update(context)
    return _page("registry.html", status, **values)


def _actor(action: Action) -> Actor | Response:
    actor, refused = registrar_actor(action)
    if actor is None:
        assert refused is not None
        body = refused[0].get_json()
        error = body.get("error") if isinstance(body, dict) else "forbidden"
        return _counter(refused[1], forbidden=True, refused=error)
    return actor


def _shown(outcome: StepOutcome, done: str) -> Response:
    if not outcome.done:
        return _counter(400, refused=outcome.message)
    return _counter(outcome=done)


@bp.get("/registry")
@bound_to(Action.REGISTRY_SUBJECT_ENROL)
def registry() -> Response:
    actor = _actor(Action.REGISTRY_SUBJECT_ENROL)
    return actor if isinstance(actor, Response) else _counter()


@bp.post("/registry/enrol")
@bound_to(Action.REGISTRY_SUBJECT_ENROL)
def enrol() -> Response:
    actor = _actor(Action.REGISTRY_SUBJECT_ENROL)
    if isinstance(actor, Response):
        return actor
    form = {key: request.form.get(key, "") for key in ("id_number", "name", "username", "password")}
    if not all(form.values()) or any(len(v) > 1024 for v in form.values()):
        return _counter(400, refused="Fill in every field.")
    parts = container()
    with parts.unit() as db:
        outcome = RegistrarService(parts.keys, parts.query_log(), parts.passwords).enrol(
            db, actor, id_number=form["id_number"], name=form["name"],
            username=form["username"], password=form["password"],
            today=parts.clock.today(), now=parts.clock.now(),
        )  # fmt: skip
    return _shown(outcome, f"已登记 Enrolled {outcome.username}")


def _card_step(replace: bool) -> Response:
    action = Action.REGISTRY_CARD_REPLACE if replace else Action.REGISTRY_CARD_ISSUE
    actor = _actor(action)
    if isinstance(actor, Response):
        return actor
    username = request.form.get("username", "").strip()
    reason = request.form.get("reason", "")
    try:
        spki = public_key_der(request.form.get("public_key", "")[:4096])
    except UnsupportedKey as exc:
        return _counter(400, refused=f"The card's public key is refused: {exc}.")
    if not username or (replace and reason not in REPLACEMENT_REASONS):
        return _counter(400, refused="Fill in every field.")
    parts = container()
    service = RegistrarService(parts.keys, parts.query_log(), parts.passwords)
    with parts.unit() as db:
        if replace:
            outcome = service.replace_card(
                db, actor, username=username, public_key_der=spki, reason=reason,
                now=parts.clock.now(),
            )  # fmt: skip
        else:
            outcome = service.issue_card(
                db, actor, username=username, public_key_der=spki, now=parts.clock.now()
            )
    if not outcome.done:
        return _counter(400, refused=outcome.message)
    done = f"已发卡 Card issued to {username}"
    if replace:
        done += (
            f" ({outcome.cards_revoked} card(s) revoked, {outcome.sessions_ended} session(s) ended)"
        )
    return _counter(outcome=done, certificate=outcome.certificate_pem)


@bp.post("/registry/cards")
@bound_to(Action.REGISTRY_CARD_ISSUE)
def issue_card() -> Response:
    return _card_step(replace=False)


@bp.post("/registry/cards/replace")
@bound_to(Action.REGISTRY_CARD_REPLACE)
def replace_card() -> Response:
    return _card_step(replace=True)
