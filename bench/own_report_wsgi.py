"""The server the own-report benchmark loads: the real application (`create_app`) with the
benchmark's policy file, plus one bare endpoint as the same-run baseline.

The bare endpoint reads the same rows as the own report: the subject's identity and records
*unencrypted* (a plain copy the benchmark made of them in `bench_plain_subjects` and
`bench_plain_records`, this benchmark's database only) and the subject's newest 100 query
records from the query log (plain columns already, the same statement's rows), without a
session, a policy decision, decryption, a charge or a log entry, and answers them as JSON: the
floor a query endpoint on this stack cannot beat. What the own report adds to it is exactly
the issue's list: session, policy, opening every record, the log append with its chain, the
durable commit. It exists only in this module, never in `wsgi.py`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from app.container import container
from app.factory import create_app
from app.services.policy import Action
from app.services.querylog.log import ENTRIES_ABOUT
from app.services.reports.assembly import query_records_since
from app.web import query_call
from app.web.gate import bound_to, public

app = create_app(policy_path=Path(os.environ["CG_BENCH_POLICY"]))
SUBJECT = uuid.UUID(os.environ["CG_BENCH_SUBJECT"])
bare = Blueprint("bench_bare", __name__)
PLAIN = text(
    "SELECT record_id, record_type, occurred_on, ended_on, display_until, fields"
    " FROM bench_plain_records WHERE subject_id = :subject"
)
PLAIN_IDENTITY = text("SELECT identity FROM bench_plain_subjects WHERE subject_id = :subject")
with container(app).sessions() as _db:
    BIDX = _db.execute(
        text("SELECT id_bidx FROM subjects WHERE id = :id"),
        {"id": SUBJECT.hex if _db.get_bind().dialect.name == "sqlite" else SUBJECT},
    ).scalar_one()


@bare.get("/bench/bare-report")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
def bare_report() -> Response:
    since = query_records_since(query_call.today())
    with container().reads() as db:  # PostgreSQL: autocommit, no BEGIN/ROLLBACK round trips
        identity = db.execute(PLAIN_IDENTITY, {"subject": SUBJECT.hex}).scalar_one()
        rows = db.execute(PLAIN, {"subject": SUBJECT.hex}).all()
        queried = db.execute(  # the own report's statement, without its Python row handling
            ENTRIES_ABOUT,
            {"subject_bidx": BIDX, "since": since, "before_seq": 2**62, "limit": 100},
        ).all()
    return jsonify(
        subject=json.loads(identity),
        query_records=[
            {
                "at": str(row.at),
                "actor": row.actor_kind,
                "action": row.action,
                "purpose": row.purpose,
            }
            for row in queried
        ],
        records=[
            {
                "id": row.record_id,
                "type": row.record_type,
                "occurred_on": row.occurred_on,
                "ended_on": row.ended_on,
                "display_until": row.display_until,
                "fields": json.loads(row.fields),
            }
            for row in rows
        ],
    )


app.register_blueprint(bare)
