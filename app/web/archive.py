"""The paid archive query and the subject's own orders (`app.services.reports.archive`,
`app.services.billing.own_orders`)."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from app.services.billing.own_orders import OwnOrders
from app.services.policy import Action
from app.services.reports.archive import ArchiveQueries
from app.web.answers import asker, http, rendering, sent_body, wired
from app.web.gate import bound_to

bp = Blueprint("archive", __name__)


@bp.post("/api/v1/archive/orders")
@bound_to(Action.ARCHIVE_ORDER_CREATE)
def create_order() -> tuple[Response, int]:
    return http(ArchiveQueries(wired()).order(asker(), sent_body()))


@bp.get("/api/v1/archive/orders/<uuid:order_id>/report")
@bound_to(Action.ARCHIVE_REPORT_READ)
def report(order_id: uuid.UUID) -> tuple[Response, int]:
    return http(ArchiveQueries(wired()).report(asker(), order_id, rendering()))


@bp.get("/api/v1/self/orders")
@bound_to(Action.SELF_ORDER_READ)
def my_orders() -> tuple[Response, int]:
    return http(OwnOrders(wired()).list(asker()))


@bp.get("/api/v1/self/orders/<uuid:order_id>")
@bound_to(Action.SELF_ORDER_READ)
def my_order(order_id: uuid.UUID) -> tuple[Response, int]:
    return http(OwnOrders(wired()).one(asker(), order_id))
