"""The server the own-report benchmark loads: the real application (`create_app`) with the
benchmark's policy file, plus one bare endpoint as the same-run baseline.

The bare endpoint reads the same subject's records *unencrypted* — a plain copy the benchmark
made of them in `bench_plain_records` (this benchmark's database only) — without a session, a
policy decision, decryption or a log entry, and answers them as JSON with their fields: the
floor a query endpoint on this stack cannot beat. It exists only in this module, never in
`wsgi.py`.
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
from app.web.gate import bound_to, public

app = create_app(policy_path=Path(os.environ["CG_BENCH_POLICY"]))
SUBJECT = uuid.UUID(os.environ["CG_BENCH_SUBJECT"])
bare = Blueprint("bench_bare", __name__)
PLAIN = text(
    "SELECT record_id, record_type, occurred_on, ended_on, display_until, fields"
    " FROM bench_plain_records WHERE subject_id = :subject"
)


@bare.get("/bench/bare-report")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
def bare_report() -> Response:
    with container().sessions() as db:
        rows = db.execute(PLAIN, {"subject": SUBJECT.hex}).all()
    return jsonify(
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
        ]
    )


app.register_blueprint(bare)
