"""A subject about themselves: the own credit report and the query records.

Guarantees:
- only a subject logged in with password and card, asking about the subject their account is
  linked to, gets anything; staff, institutions and weaker logins are refused by the policy
  engine, and every attempt, allowed or denied, writes exactly one query-log entry in the same
  unit of work (failures: one `failed` entry, 503, nothing disclosed);
- two own reports per calendar year are free, counted atomically (`AllowanceService`); from the
  third on the answer is 402 with a pending fee order (`OrderService.create`), and a request
  naming a paid, unused self-report order of the same account gets the report, the order being
  marked used in the same unit of work;
- an order that is not the caller's, unknown, unpaid, refunded or already used answers 404
  (someone else's order looks like no order), or 402 naming it when it is the caller's own
  order still waiting for payment;
- the report is read from one snapshot (`QueryCall.snapshot`: subject, decision, records
  opened, query records) and returned only after the unit that takes the charge and appends
  the log entry committed (for a free report on PostgreSQL, one statement:
  `QueryCall.take_free_report_and_log`); if that unit fails, nothing read is sent (503). The
  query records page is read and logged the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, request

from app.services.billing.allowances import AllowanceService
from app.services.billing.orders import OrderService
from app.services.policy import Action, Target
from app.services.querylog.log import QueryRecord
from app.services.reports.assembly import (
    OpenedReport,
    ReportService,
    ShapedReport,
    query_records_since,
    subject_by_id,
)
from app.web.gate import bound_to
from app.web.queries import payment_required, refusal
from app.web.query_call import QueryCall, bad_request, body, body_refusal

bp = Blueprint("self_service", __name__, url_prefix="/api/v1/self")
NO_ORDER = {"error": "not_found", "message": "Not found."}
#: The report shows the newest query records; all of them (two years) page through
#: `GET /api/v1/self/query-records`.
REPORT_QUERY_RECORDS = 100
PAGE_DEFAULT, PAGE_MAX = 100, 500


@bp.post("/reports")
@bound_to(Action.SELF_REPORT_READ)
def own_report() -> tuple[Response, int]:
    call = QueryCall(Action.SELF_REPORT_READ)
    principal = call.principal
    assert principal is not None  # the gate admits only logged-in callers here
    parts = call.parts
    reports = ReportService(parts.cipher, parts.catalog, policy_version=parts.policy.version)
    asked = _asked_order()
    shaped: ShapedReport | None = None
    records: list[QueryRecord] = []
    opened: OpenedReport | None = None
    # 1. One read-only snapshot: the subject, the decision, and (when it allows and the body
    #    is sound) the report's records opened and its query records. No write lock held.
    with call.snapshot() as db:
        subject = subject_by_id(db, principal.subject_id)
        call.subject_bidx = None if subject is None else subject.id_bidx
        decision = call.decide(Target(relation="own" if subject is not None else "none"))
        if decision.allowed and subject is not None and not isinstance(asked, Refused):
            records = parts.query_log().entries_about(
                db,
                subject.id_bidx,
                since=query_records_since(call.on),
                viewer_ref=call.actor_ref,
                limit=REPORT_QUERY_RECORDS,
            )
            opened = reports.open(db, subject=subject, decision=decision, on=call.on)
    if opened is not None:  # masked outside any unit: pure, and holds no lock
        shaped = reports.shape(opened, decision=decision)
    # 2. PostgreSQL, the common case, a free report: the charge and the log entry as one
    #    statement. Nothing read above leaves unless it commits.
    if (
        shaped is not None
        and asked is None
        and decision.allowed
        and call.take_free_report_and_log(
            limit=parts.policy.free_self_reports_per_year,
            reason=decision.reason,
            fields_released=shaped.released,
        )
    ):
        report = reports.document(
            shaped, decision=decision, kind="self", on=call.on, query_records=records, fee_fen=0
        )
        return jsonify(report), 200
    # 3. Every other case in one writing unit: a refusal, a paid order, a free report (on
    #    SQLite always; on PostgreSQL when a checkpoint is due), the free ones used up (a fee
    #    order).
    #    The charge and the log entry commit together; nothing read above leaves otherwise.
    with call.unit() as db:
        if not decision.allowed or decision.obligations is None or shaped is None:
            if isinstance(asked, Refused) and decision.allowed:
                return call.deny(db, asked.reason, asked.answer)
            return call.deny(db, decision.reason, refusal(decision))
        orders = OrderService()
        fee_fen = 0
        if asked is not None:
            with parts.orm(db) as session:
                order = orders.redeem_self_report(
                    session, order_id=asked, account_id=principal.account_id
                )
                own = (
                    orders.get_own(session, asked, principal.account_id) if order is None else None
                )
            if order is None:
                if own is not None and own.kind == "self_report" and own.status == "pending":
                    return call.deny(db, "order_not_paid", payment_required(str(own.id)))
                return call.deny(db, "order_not_redeemable", (jsonify(NO_ORDER), 404))
            fee_fen = order.fee_fen
        elif not AllowanceService().take_free_report(
            db,
            account_id=principal.account_id,
            year=call.on.year,
            limit=parts.policy.free_self_reports_per_year,
        ):
            assert call.subject_bidx is not None
            with parts.orm(db) as session:
                order = orders.create(
                    session,
                    kind="self_report",
                    account_id=principal.account_id,
                    subject_bidx=call.subject_bidx,
                    fee_fen=decision.obligations.fee.amount_fen,
                )
            return call.deny(db, "payment_required", payment_required(str(order.id)))
        call.log(
            db,
            "allowed",
            decision.reason,
            fields_released=shaped.released,
            fee_fen=fee_fen,
        )
    # Committed: the entry is durable. The document around the masked blocks reads nothing.
    report = reports.document(
        shaped, decision=decision, kind="self", on=call.on, query_records=records, fee_fen=fee_fen
    )
    return jsonify(report), 200


@dataclass(frozen=True)
class Refused:
    """A request body the own report refuses: the log's reason and the answer to send."""

    reason: str
    answer: tuple[Response, int]


def _asked_order() -> uuid.UUID | Refused | None:
    """The paid order the body names, None for `{}` (or no body), or why the body is refused."""
    sent, problem = body()
    if problem is not None:
        return Refused(problem, body_refusal(problem))
    if sent is None:
        sent = {}
    if not isinstance(sent, dict) or set(sent) - {"order_id"}:
        return Refused("bad_request", bad_request('Send {} or {"order_id": "<id>"}.'))
    if "order_id" not in sent:
        return None
    try:
        return uuid.UUID(str(sent["order_id"]))
    except ValueError:
        return Refused("bad_request", bad_request("order_id must be an order id."))


@bp.get("/query-records")
@bound_to(Action.SELF_QUERY_LOG_READ)
def query_records() -> tuple[Response, int]:
    """Read in a snapshot, then log in the writing unit (like the own report): on SQLite the
    one-writer lock is held only for the log entry, not for reading a page of entries."""
    call = QueryCall(Action.SELF_QUERY_LOG_READ)
    principal = call.principal
    assert principal is not None
    page = _page()
    entries: list[QueryRecord] = []
    with call.snapshot() as db:
        subject = subject_by_id(db, principal.subject_id)
        call.subject_bidx = None if subject is None else subject.id_bidx
        decision = call.decide(Target(relation="own" if subject is not None else "none"))
        if decision.allowed and subject is not None and page is not None:
            limit, before = page
            entries = call.parts.query_log().entries_about(
                db,
                subject.id_bidx,
                since=query_records_since(call.on),
                viewer_ref=call.actor_ref,
                limit=limit + 1,
                before_seq=before,
            )
    with call.unit() as db:
        if not decision.allowed or subject is None:
            return call.deny(db, decision.reason, refusal(decision))
        if page is None:
            return call.deny(
                db,
                "bad_request",
                bad_request(f"limit must be 1..{PAGE_MAX}; cursor must come from next_cursor."),
            )
        call.log(db, "allowed", decision.reason)
    limit = page[0]
    shown = entries[:limit]
    more = len(entries) > limit
    return jsonify(
        query_records=[entry.as_dict() for entry in shown],
        next_cursor=str(shown[-1].seq) if more else None,
    ), 200


def _page() -> tuple[int, int | None] | None:
    """(limit, before_seq) from `?limit=&cursor=`, or None when either is malformed."""
    raw_limit = request.args.get("limit", str(PAGE_DEFAULT))
    raw_cursor = request.args.get("cursor")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= PAGE_MAX:
        return None
    if raw_cursor is not None and (not raw_cursor.isdigit() or len(raw_cursor) > 19):
        return None
    return int(raw_limit), None if raw_cursor is None else int(raw_cursor)
