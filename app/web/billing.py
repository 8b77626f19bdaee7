"""Billing endpoints: cashier confirmations and refunds, payment-provider notifications,
institution top-ups and ledgers (use cases: `app.services.billing.cashier`,
`app.services.billing.payment_notice`).

Guarantees:
- cashier routes answer only staff holding the `cashier` role in a password+TOTP session
  (401 without a session, 403 `step_up_required` for a weaker one, 403 for anyone else);
- the payment notification route takes no session: it is authenticated by its HMAC signature
  over the raw body, refused before parsing when the signature or timestamp is wrong; a
  refusal is counted by reason code only, never with the body or headers;
- every state change runs in one unit of work; retries of a confirmation or refund with the
  same input answer the same order unchanged;
- an institution sees only its own ledger (bearer token), a cashier any institution's.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, request

from app.services.billing.cashier import Cashier
from app.services.billing.payment_notice import PaymentNotices
from app.services.policy import Action
from app.web.answers import asker, http, institution_asker, provider_asker, sent_body, wired
from app.web.gate import bound_to, csrf_exempt, public
from app.web.oauth import require_bearer

bp = Blueprint("billing", __name__)


@bp.post("/api/v1/billing/orders/<uuid:order_id>/confirm")
@bound_to(Action.BILLING_ORDER_CONFIRM)
def confirm(order_id: uuid.UUID) -> tuple[Response, int]:
    return http(Cashier(wired()).confirm(asker(), order_id, sent_body()))


@bp.post("/api/v1/billing/orders/<uuid:order_id>/refund")
@bound_to(Action.BILLING_ORDER_REFUND)
def refund(order_id: uuid.UUID) -> tuple[Response, int]:
    return http(Cashier(wired()).refund(asker(), order_id, sent_body()))


@bp.post("/api/v1/billing/payment-notifications")
@bound_to(Action.BILLING_PAYMENT_NOTIFY)
@public
@csrf_exempt
def payment_notification() -> tuple[Response, int]:
    """A signed payment notification (`app.services.billing.payment_notice`)."""
    parts = wired()
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
def top_up(client_id: str) -> tuple[Response, int]:
    return http(Cashier(wired()).top_up(asker(), client_id, sent_body()))


@bp.get("/api/v1/billing/institutions/<client_id>/ledger")
@bound_to(Action.BILLING_LEDGER_READ)
def institution_ledger_for_cashier(client_id: str) -> tuple[Response, int]:
    return http(Cashier(wired()).ledger_of(asker(), client_id))


@bp.get("/api/v1/institution/ledger")
@bound_to(Action.INSTITUTION_LEDGER_READ)
@public
@csrf_exempt
@require_bearer(None)
def own_ledger() -> tuple[Response, int]:
    return http(Cashier(wired()).own_ledger(institution_asker()))
