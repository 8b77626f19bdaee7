"""Archive orders as pages: `GET /archive` (my orders and the order form), `POST
/archive/orders` (order an archive report about an ID number), `GET /orders/<id>` (one order:
its status, fee and how to pay), `POST /orders/<id>/report` (the paid report) and `POST
/orders/<id>/report/pdf` (its signed PDF).

Guarantees:
- each runs the API's own use case (`ArchiveQueries.order`, `ArchiveQueries.report`,
  `OwnOrders.list`/`one`) with the same asker, so it is decided, charged and logged exactly as
  its API (ordering and downloading: one query-log entry per attempt; reading one's orders is
  not a query of credit data and writes none);
- the ID number typed in the form goes to the use case only: it is never put back into a page
  (the order shows the masked label the use case made), a URL or a log line;
- someone else's order, or one that does not exist, is the same 404 page; a report of an unpaid
  order is a 402 page naming the caller's own order (logged like the API), a refunded,
  cancelled or expired one 410; the page shows the status as pending, paid, expired, refunded
  or cancelled;
- the views name no database, unit or SQL (import contract "Views name no database").
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, redirect, url_for
from flask.typing import ResponseReturnValue

from app.services.billing.own_orders import OwnOrders
from app.services.outcomes import Answered
from app.services.policy import Action
from app.services.reports.archive import ArchiveQueries
from app.web.answers import asker, http, wired
from app.web.gate import bound_to
from app.web.locale import current
from app.web.pages import form, page, refused_page
from app.web.report_pages import presenter
from app.web.report_view import city_time, money

bp = Blueprint("order_pages", __name__)


def shown(order: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An order as a page shows it: an unpaid order past its expiry is `expired`."""
    status = str(order["status"])
    expires = order.get("expires_at")
    if status == "pending" and expires and datetime.fromisoformat(str(expires)) <= now:
        status = "expired"
    locale = current()
    return {
        **order,
        "shown_status": status,
        "fee": money(int(order["fee_fen"]), locale),
        "created": city_time(str(order["created_at"])),
        "expires": city_time(str(expires)) if expires else "",
        "paid": city_time(str(order["paid_at"])) if order.get("paid_at") else "",
        "until": city_time(str(order["available_until"])) if order.get("available_until") else "",
    }


@bp.get("/archive")
@bound_to(Action.SELF_ORDER_READ)
def orders() -> Response:
    answer = OwnOrders(wired()).list(asker())
    if not isinstance(answer, Answered):
        return refused_page(answer)
    now = wired().clock.now()
    return page("orders.html", orders=[shown(order, now) for order in answer.document["orders"]])


@bp.post("/archive/orders")
@bound_to(Action.ARCHIVE_ORDER_CREATE)
def place_order() -> ResponseReturnValue:
    answer = ArchiveQueries(wired()).order(asker(), form(("id_number",)))
    if not isinstance(answer, Answered):
        return refused_page(answer, back=url_for("order_pages.orders"))
    order_id = answer.document["order"]["id"]
    return redirect(url_for("order_pages.order", order_id=order_id), 303)


@bp.get("/orders/<uuid:order_id>")
@bound_to(Action.SELF_ORDER_READ)
def order(order_id: uuid.UUID) -> Response:
    answer = OwnOrders(wired()).one(asker(), order_id)
    if not isinstance(answer, Answered):
        return refused_page(answer)
    return page("order.html", order=shown(answer.document["order"], wired().clock.now()))


@bp.post("/orders/<uuid:order_id>/report")
@bound_to(Action.ARCHIVE_REPORT_READ)
def report(order_id: uuid.UUID) -> Response:
    answer = ArchiveQueries(wired()).report(asker(), order_id, "json")
    if not isinstance(answer, Answered):
        return refused_page(answer)
    return page(
        "report.html", report=presenter().view(answer.document, current()), order_id=order_id
    )


@bp.post("/orders/<uuid:order_id>/report/pdf")
@bound_to(Action.ARCHIVE_REPORT_READ)
def report_pdf(order_id: uuid.UUID) -> Response:
    answer = ArchiveQueries(wired()).report(asker(), order_id, "pdf")
    if not isinstance(answer, Answered):
        return refused_page(answer)
    response = http(answer)[0]
    response.headers["Cache-Control"] = "no-store"
    return response
