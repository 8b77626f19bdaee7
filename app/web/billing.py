"""Billing endpoints: cashier confirmations and refunds, payment-provider notifications,
institution top-ups and ledgers.

Guarantees:
- cashier routes answer only staff holding the `cashier` role in a password+TOTP session
  (401 without a session, 403 `step_up_required` for a weaker one, 403 for anyone else);
- the payment notification route takes no session: it is authenticated by its HMAC signature
  over the raw body (`app.services.billing.payments`), refused before parsing when the signature or
  timestamp is wrong; a refusal is logged by reason code only, never with the body or headers;
- every state change runs in one unit of work; retries of a confirmation or refund with the
  same input answer the same order unchanged;
- an institution sees only its own ledger (bearer token), a cashier any institution's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.container import container
from app.services.auth.callers import caller_for, caller_for_institution
from app.services.auth.sessions import Principal
from app.services.billing.ledger import LedgerError, LedgerService, entry_view, institution_id_for
from app.services.billing.orders import OrderConflict, OrderInputError, OrderService, order_view
from app.services.billing.payment_notice import PaymentNotices
from app.services.oauth.bearer import InstitutionPrincipal
from app.services.outcomes import refusal_for
from app.services.policy import Action
from app.web.answers import http, provider_asker
from app.web.bodies import not_json_message
from app.web.gate import bound_to, csrf_exempt, public
from app.web.identity import bad_request, current_principal
from app.web.oauth import require_bearer

bp = Blueprint("billing", __name__)
log = logging.getLogger("creditgate.billing")
Answer = Response | tuple[Response, int]


def _cashier(action: Action) -> tuple[Principal | None, Answer | None]:
    """The cashier, if the policy engine allows `action` to the caller (staff with the
    cashier role, password+TOTP session); otherwise the refusal to answer."""
    principal = current_principal()
    decision = container().policy.decide(caller_for(principal), action, on=_now().date())
    if principal is None or not decision.allowed:
        return None, http(refusal_for(decision))
    return principal, None


def _body() -> dict[str, Any] | None:
    body: Any = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _orders() -> OrderService:
    return OrderService.of(container().policy)


def _not_found() -> tuple[Response, int]:
    return jsonify(error="not_found", message="There is no such order."), 404


def _conflict(conflict: OrderConflict) -> tuple[Response, int]:
    return jsonify(error=conflict.code, message=str(conflict)), 409


@bp.post("/api/v1/billing/orders/<uuid:order_id>/confirm")
@bound_to(Action.BILLING_ORDER_CONFIRM)
def confirm(order_id: uuid.UUID) -> Answer:
    return _cashier_changes_order(
        Action.BILLING_ORDER_CONFIRM,
        "payment_ref",
        'Send {"payment_ref": "<the receipt or transfer reference>"}.',
        lambda db, text, cashier_id: _orders().confirm(
            db, order_id=order_id, payment_ref=text, cashier_id=cashier_id, now=_now()
        ),
    )


@bp.post("/api/v1/billing/orders/<uuid:order_id>/refund")
@bound_to(Action.BILLING_ORDER_REFUND)
def refund(order_id: uuid.UUID) -> Answer:
    return _cashier_changes_order(
        Action.BILLING_ORDER_REFUND,
        "reason",
        'Send {"reason": "<why the payment is refunded>"}.',
        lambda db, text, cashier_id: _orders().refund(
            db, order_id=order_id, reason=text, cashier_id=cashier_id, now=_now()
        ),
    )


def _cashier_changes_order(
    action: Action,
    field: str,
    hint: str,
    change: Callable[[Any, str, uuid.UUID], Any],
) -> Answer:
    """A cashier's change to one order (confirm, refund): the body's one text `field`, the
    change in one unit of work, the order's view, or a clear refusal."""
    cashier, refused = _cashier(action)
    if cashier is None:
        return refused  # type: ignore[return-value]
    body = _body()
    if body is None or not isinstance(body.get(field), str):
        return bad_request(not_json_message(hint))
    try:
        with container().unit() as db:
            order = change(db, body[field], cashier.account_id)
            view = order_view(order) if order is not None else None
    except OrderInputError as bad:
        return bad_request(str(bad))
    except OrderConflict as conflict:
        return _conflict(conflict)
    return jsonify(order=view) if view is not None else _not_found()


@bp.post("/api/v1/billing/payment-notifications")
@bound_to(Action.BILLING_PAYMENT_NOTIFY)
@public
@csrf_exempt
def payment_notification() -> Answer:
    """A signed payment notification (`app.services.billing.payment_notice`)."""
    parts = container()
    notices = PaymentNotices(parts, parts.settings.read_payment_notify_key())
    return http(
        notices.receive(
            provider_asker(),
            body=request.get_data(cache=False),
            timestamp=request.headers.get("X-CG-Timestamp"),
            signature=request.headers.get("X-CG-Signature"),
        )
    )


@bp.post("/api/v1/billing/institutions/<client_id>/top-ups")
@bound_to(Action.BILLING_LEDGER_TOPUP)
def top_up(client_id: str) -> Answer:
    cashier, refused = _cashier(Action.BILLING_LEDGER_TOPUP)
    if cashier is None:
        return refused  # type: ignore[return-value]
    body = _body()
    if body is None or not isinstance(body.get("reference"), str):
        return bad_request(
            not_json_message('Send {"amount_fen": <positive integer>, "reference": "<receipt>"}.')
        )
    try:
        with container().unit() as db:
            institution_id = institution_id_for(db, client_id)
            if institution_id is None:
                return jsonify(error="not_found", message="There is no such institution."), 404
            ledger = LedgerService()
            entry = ledger.top_up(
                db,
                institution_id=institution_id,
                amount_fen=body.get("amount_fen"),  # type: ignore[arg-type]  # checked inside
                reference=body["reference"],
                created_by=str(cashier.account_id),
            )
            view = entry_view(entry)
    except LedgerError as bad:
        return bad_request(str(bad))
    return jsonify(entry=view, balance_fen=view["balance_after"]), 201


@bp.get("/api/v1/billing/institutions/<client_id>/ledger")
@bound_to(Action.BILLING_LEDGER_READ)
def institution_ledger_for_cashier(client_id: str) -> Answer:
    cashier, refused = _cashier(Action.BILLING_LEDGER_READ)
    if cashier is None:
        return refused  # type: ignore[return-value]
    ledger = LedgerService()
    with container().unit() as db:
        institution_id = institution_id_for(db, client_id)
        if institution_id is None:
            return jsonify(error="not_found", message="There is no such institution."), 404
        balance = ledger.balance(db, institution_id)
        entries = [entry_view(entry) for entry in ledger.entries(db, institution_id)]
    return jsonify(client_id=client_id, balance_fen=balance, entries=entries)


@bp.get("/api/v1/institution/ledger")
@bound_to(Action.INSTITUTION_LEDGER_READ)
@public
@csrf_exempt
@require_bearer(None)
def own_ledger() -> Answer:
    principal: InstitutionPrincipal = g.institution
    decision = container().policy.decide(
        caller_for_institution(principal), Action.INSTITUTION_LEDGER_READ, on=_now().date()
    )
    if not decision.allowed:
        return http(refusal_for(decision))
    ledger = LedgerService()
    with container().unit() as db:
        balance = ledger.balance(db, principal.institution_id)
        entries = [entry_view(entry) for entry in ledger.entries(db, principal.institution_id)]
    return jsonify(client_id=principal.client_id, balance_fen=balance, entries=entries)


def _now() -> datetime:
    return container().clock.now()
