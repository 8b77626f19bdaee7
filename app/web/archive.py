"""The paid archive query and the subject's own orders.

Guarantees (see `app.services.reports.archive` for the query itself):
- every archive attempt is decided by the policy engine and logged in the unit of work that
  answers it; the response is sent only after that unit committed; if the log or the HSM fails
  the unit rolls back, a `failed` entry is written in a fresh unit and the answer is 503 with
  nothing disclosed;
- a malformed ID number is 400 with a clear message; the number itself is never echoed;
- someone else's order is 404 exactly like an order that does not exist; an unpaid order's
  report is 402 naming the order; a refunded or expired one is 410.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify

from app.container import Container, container
from app.services.auth.callers import caller_for
from app.services.billing.orders import OrderService, ReportAccess, order_view
from app.services.failures import DATABASE_FAILURES, KEY_FAILURES
from app.services.policy import Action, Target
from app.services.querylog.log import record_failure
from app.services.reports.archive import ArchiveService, InvalidIdentifier, Requester
from app.services.reports.assembly import ReportService
from app.web.gate import bound_to
from app.web.identity import bad_request, client_address, current_principal, json_body
from app.web.queries import payment_required, refusal, request_id

bp = Blueprint("archive", __name__)
Answer = Response | tuple[Response, int]


def _service(parts: Container) -> ArchiveService:
    reports = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
    return ArchiveService(
        policy=parts.policy,
        query_log=parts.query_log(),
        provider=parts.key_provider,
        reports=reports,
    )


def _requester() -> Requester:
    principal = current_principal()
    assert principal is not None  # the gate admits only logged-in callers here
    return Requester(
        caller=caller_for(principal),
        account_id=principal.account_id,
        request_id=request_id(),
        client_address=client_address(),
    )


def _now() -> datetime:
    return datetime.now(UTC)


@bp.post("/api/v1/archive/orders")
@bound_to(Action.ARCHIVE_ORDER_CREATE)
def create_order() -> Answer:
    parts, who, today = container(), _requester(), _now().date()
    service = _service(parts)
    action = Action.ARCHIVE_ORDER_CREATE
    body = json_body("id_number", max_length=32)
    with _failures_recorded(parts, service, who, action), parts.unit() as db:
        if body is None:
            service.refuse_input(db, who, action, "malformed_body")
            return bad_request('Send {"id_number": "<18-character citizen ID number>"}.')
        try:
            subject_bidx, subject_label = service.subject_index(body["id_number"], today=today)
        except InvalidIdentifier as invalid:
            service.refuse_input(db, who, action, "invalid_id_number")
            return bad_request(f"The ID number is not valid: {invalid}.")
        outcome = service.place_order(
            db, who, subject_bidx=subject_bidx, on=today, subject_label=subject_label
        )
        view = order_view(outcome.order) if outcome.order is not None else None
    if view is None:
        return refusal(outcome.decision)
    return jsonify(order=view), 201


@bp.get("/api/v1/archive/orders/<uuid:order_id>/report")
@bound_to(Action.ARCHIVE_REPORT_READ)
def report(order_id: uuid.UUID) -> Answer:
    parts, who = container(), _requester()
    service = _service(parts)
    failures = _failures_recorded(parts, service, who, Action.ARCHIVE_REPORT_READ)
    with failures, parts.unit() as db:
        outcome = service.download(db, who, order_id=order_id, now=_now())
    if outcome.access is ReportAccess.PAYMENT_REQUIRED:
        return payment_required(str(order_id))
    if outcome.access is ReportAccess.GONE:
        message = "This report is no longer available (refunded or past its download period)."
        return jsonify(error="gone", message=message), 410
    if outcome.report is None:
        return refusal(outcome.decision)
    return jsonify(outcome.report)


@contextmanager
def _failures_recorded(
    parts: Container, service: ArchiveService, who: Requester, action: Action
) -> Iterator[None]:
    """An HSM or database failure inside the block rolls its unit back; a `failed` entry is
    then written in a unit of its own, and the failure goes on to the 503 handler."""
    try:
        yield
    except KEY_FAILURES + DATABASE_FAILURES:
        record_failure(parts, service.failure_attempt(who, action))
        raise


@bp.get("/api/v1/self/orders")
@bound_to(Action.SELF_ORDER_READ)
def my_orders() -> Answer:
    parts, who = container(), _requester()
    decision = parts.policy.decide(
        who.caller, Action.SELF_ORDER_READ, Target(relation="own"), on=_now().date()
    )
    if not decision.allowed:
        return refusal(decision)
    with parts.unit() as db:
        orders = [order_view(o) for o in OrderService().list_own(db, who.account_id)]
    return jsonify(orders=orders)


@bp.get("/api/v1/self/orders/<uuid:order_id>")
@bound_to(Action.SELF_ORDER_READ)
def my_order(order_id: uuid.UUID) -> Answer:
    parts, who = container(), _requester()
    with parts.unit() as db:
        order = OrderService().get_own(db, order_id, who.account_id)
        target = Target(relation="own" if order is not None else "other")
        decision = parts.policy.decide(who.caller, Action.SELF_ORDER_READ, target, on=_now().date())
        view = order_view(order) if order is not None and decision.allowed else None
    if view is None:
        return refusal(decision)
    return jsonify(order=view)
