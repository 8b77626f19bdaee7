"""``python -m app.client report|query-records|search|archive …``: the subject's queries.

Human-readable text by default (sections, record titles, values masked as the service
released them), ``--json`` for the service's JSON as it came. ``--out FILE`` writes the report
JSON to a new file readable by the owner only (0600) instead of printing it; ``--pdf FILE``
asks for the report as the service's signed PDF (the same logged query) and writes that.

Exit codes: 0 done; 1 refused or unreachable (one line: the reason); 2 the answer needs a paid
order (the order id, the fee and how to pay are printed). The session cookie and the CSRF
token are never printed; an ID number typed on the command line is sent to the service only.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from app.client import render
from app.client.common import Service, Stop, refused
from app.client.http import Reply

PAGE, MAX_PAGES = 500, 200
PDF = "application/pdf"
SEARCH_REFUSALS = {
    "daily_limit_reached": "You have used today's public-list searches; try again tomorrow.",
}


def _json(out: TextIO, body: Mapping[str, Any]) -> None:
    out.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")


def _order_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise Stop(1, "That is not an order id.") from None


def _write_private(path: str, body: Mapping[str, Any] | bytes) -> Path:
    """A new file only the owner can read (never overwriting one), holding `body`."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Stop(1, f"{target} exists already; name a new file.") from None
    except OSError as exc:
        raise Stop(1, f"Cannot write {target}: {exc.strerror}.") from None
    if isinstance(body, bytes):
        with os.fdopen(fd, "wb") as raw:
            raw.write(body)
        return target
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(body, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    return target


def _pdf_path(args: argparse.Namespace) -> str:
    """`--pdf FILE`'s path, checked before anything is asked (a refused file name must not
    cost a report): it must not exist yet."""
    path = str(args.pdf)
    if os.path.lexists(path):
        raise Stop(1, f"{path} exists already; name a new file.")
    return path


def _save_pdf(path: str, reply: Reply, out: TextIO) -> None:
    if reply.media_type != PDF or not reply.raw.startswith(b"%PDF-"):
        raise Stop(1, "The service did not answer with a PDF.")
    target = _write_private(path, reply.raw)
    out.write(
        f"Signed report written to {target} ({len(reply.raw)} bytes). Anyone can check it, "
        "or a paper copy of it, at the service's /verify page.\n"
    )


def _payment_stop(service: Service, reply: Reply, then: str) -> Stop:
    order_id = reply.body.get("order_id")
    if not isinstance(order_id, str):
        return refused(reply)
    fee: object = None
    order = service.get(f"/api/v1/self/orders/{_order_id(order_id)}")
    if order.status == 200:
        fee = render.obj(order.body.get("order")).get("fee_fen")
    return Stop(2, render.how_to_pay(order_id, fee, then.format(order=order_id)))


def _show_report(args: argparse.Namespace, out: TextIO, body: Mapping[str, Any]) -> None:
    if args.out:
        target = _write_private(args.out, body)
        meta = render.obj(body.get("report"))
        out.write(f"Report {meta.get('id', '?')} written to {target}.\n")
    elif args.json:
        _json(out, body)
    else:
        out.write(render.report(body))


def report(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    sent = {} if args.order is None else {"order_id": _order_id(args.order)}
    pdf = None if args.pdf is None else _pdf_path(args)
    service = Service()
    if pdf is None:
        reply = service.post("/api/v1/self/reports", sent)
    else:
        reply = service.post("/api/v1/self/reports?format=pdf", sent, accept=PDF)
    if reply.status == 402:
        raise _payment_stop(service, reply, "python -m app.client report --order {order}")
    if reply.status == 404 and args.order is not None:
        raise Stop(1, "No paid, unused report order of yours has that id.")
    if reply.status != 200:
        raise refused(reply)
    if pdf is not None:
        _save_pdf(pdf, reply, out)
        return
    _show_report(args, out, reply.body)


def query_records(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    """Every page (`next_cursor`) of the subject's query records, newest first."""
    service, items, cursor = Service(), [], None
    for _ in range(MAX_PAGES):
        path = f"/api/v1/self/query-records?limit={PAGE}"
        reply = service.get(path if cursor is None else f"{path}&cursor={cursor}")
        if reply.status != 200:
            raise refused(reply)
        page = reply.body.get("query_records")
        items += page if isinstance(page, list) else []
        cursor = reply.body.get("next_cursor")
        if not isinstance(cursor, str) or not cursor.isdigit():
            break
    if args.json:
        _json(out, {"query_records": items})
        return
    out.write(render.query_records(items))


def search(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    terms = {"name": args.name} if args.name is not None else {"id_number": args.id_number}
    reply = Service().post("/api/v1/public/lists/search", terms)
    if reply.status != 200:
        raise refused(reply, SEARCH_REFUSALS)
    if args.json:
        _json(out, reply.body)
    else:
        out.write(render.search_results(reply.body))


def archive_order(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().post("/api/v1/archive/orders", {"id_number": args.id_number})
    if reply.status != 201:
        raise refused(reply)
    if args.json:
        _json(out, reply.body)
        return
    order = render.obj(reply.body.get("order"))
    order_id = str(order.get("id", "?"))
    out.write(f"Archive order {order_id}: {order.get('status', '?')}.\n")
    if order.get("status") == "pending":
        out.write(
            render.how_to_pay(
                order_id, order.get("fee_fen"), f"python -m app.client archive report {order_id}"
            )
            + "\n"
        )


def archive_orders(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/orders")
    if reply.status != 200:
        raise refused(reply)
    if args.json:
        _json(out, reply.body)
        return
    items = reply.body.get("orders")
    out.write(render.orders(items if isinstance(items, list) else []))


def archive_report(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    order_id = _order_id(args.order_id)
    pdf = None if args.pdf is None else _pdf_path(args)
    service = Service()
    path = f"/api/v1/archive/orders/{order_id}/report"
    reply = service.get(path) if pdf is None else service.get(f"{path}?format=pdf", accept=PDF)
    if reply.status == 402:
        raise _payment_stop(service, reply, "python -m app.client archive report {order}")
    if reply.status == 404:
        raise Stop(1, "You have no archive order with that id.")
    if reply.status != 200:
        raise refused(reply)
    if pdf is not None:
        _save_pdf(pdf, reply, out)
        return
    _show_report(args, out, reply.body)


def add_commands(commands: Any) -> None:
    def options(parser: argparse.ArgumentParser, *, out: bool = False) -> None:
        if not out:
            parser.add_argument("--json", action="store_true", help="print the raw JSON")
            return
        shown = parser.add_mutually_exclusive_group()
        shown.add_argument("--json", action="store_true", help="print the raw JSON")
        shown.add_argument("--out", metavar="FILE", help="write the report JSON (0600)")
        shown.add_argument(
            "--pdf", metavar="FILE", help="download the signed PDF of the report (0600)"
        )

    own = commands.add_parser("report", help="your own credit report (2 free a year)")
    own.add_argument("--order", metavar="ORDER_ID", help="a paid self-report order")
    options(own, out=True)
    own.set_defaults(run=report)
    records = commands.add_parser("query-records", help="who looked at your report")
    options(records)
    records.set_defaults(run=query_records)
    lists = commands.add_parser("search", help="search the public lists")
    terms = lists.add_mutually_exclusive_group(required=True)
    terms.add_argument("--name")
    terms.add_argument("--id-number")
    options(lists)
    lists.set_defaults(run=search)
    archive = commands.add_parser("archive", help="paid archive queries")
    verbs = archive.add_subparsers(dest="verb", required=True)
    place = verbs.add_parser("order", help="order an archive report for an ID number")
    place.add_argument("--id-number", required=True)
    options(place)
    place.set_defaults(run=archive_order)
    mine = verbs.add_parser("orders", help="your orders")
    options(mine)
    mine.set_defaults(run=archive_orders)
    fetch = verbs.add_parser("report", help="download a paid archive report")
    fetch.add_argument("order_id")
    options(fetch, out=True)
    fetch.set_defaults(run=archive_report)
