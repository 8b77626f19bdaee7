"""The server the own-report benchmark loads: the real application (`create_app`) with the
benchmark's policy file, plus two baseline endpoints on the same server.

Both baselines read the same rows as the own report: the subject's identity and records
*unencrypted* (a plain copy the benchmark made in `bench_plain_subjects` and
`bench_plain_records`, this benchmark's database only) and the subject's newest 100 query
records (the report's own statement), and answer them as JSON, with no session, no policy
decision, no decryption and no charge:

- `POST /bench/logged-read` reads them in a snapshot and then writes one row durably in a unit
  of work of its own (`bench_reads`): the irreducible cost of a logged answer on this stack.
  This is the baseline of the goal;
- `GET /bench/bare-report` only reads them (the old baseline, printed beside it).

What the own report adds to the logged read is the session check, the decision, opening every
record, the masks, the free-report counter and the log entry's chain. It exists only in this
module, never in `wsgi.py`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from app.container import container
from app.factory import create_app
from app.services.policy import Action
from app.services.querylog.records import ENTRIES_ABOUT
from app.services.reports.assembly import query_records_since
from app.web.gate import bound_to, csrf_exempt, public

app = create_app(policy_path=Path(os.environ["CG_BENCH_POLICY"]))
SUBJECT = uuid.UUID(os.environ["CG_BENCH_SUBJECT"])
baselines = Blueprint("bench_baselines", __name__)
PLAIN = text(
    "SELECT record_id, record_type, occurred_on, ended_on, display_until, fields"
    " FROM bench_plain_records WHERE subject_id = :subject"
)
PLAIN_IDENTITY = text("SELECT identity FROM bench_plain_subjects WHERE subject_id = :subject")
WRITE_ONE = text("INSERT INTO bench_reads (id, at, subject_id) VALUES (:id, :at, :subject)")
with container(app).snapshot() as _db:
    BIDX = _db.execute(
        text("SELECT id_bidx FROM subjects WHERE id = :id"),
        {"id": SUBJECT.hex if _db.dialect.name == "sqlite" else SUBJECT},
    ).scalar_one()


def _read(db: Any) -> dict[str, Any]:
    since = query_records_since(container().clock.today())
    identity = db.execute(PLAIN_IDENTITY, {"subject": SUBJECT.hex}).scalar_one()
    rows = db.execute(PLAIN, {"subject": SUBJECT.hex}).all()
    queried = db.execute(  # the own report's statement, without its Python row handling
        ENTRIES_ABOUT, {"subject_bidx": BIDX, "since": since, "before_seq": 2**62, "limit": 100}
    ).all()
    return {
        "subject": json.loads(identity),
        "query_records": [
            {
                "at": str(row.at),
                "actor": row.actor_kind,
                "action": row.action,
                "purpose": row.purpose,
            }
            for row in queried
        ],
        "records": [
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
    }


@baselines.post("/bench/logged-read")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
@csrf_exempt
def logged_read() -> Response:
    parts = container()
    with parts.snapshot() as db:
        answer = _read(db)
    with parts.unit() as db:  # one row, durable before the answer leaves
        db.execute(
            WRITE_ONE, {"id": uuid.uuid4().hex, "at": parts.clock.now(), "subject": SUBJECT.hex}
        )
    return jsonify(answer)


@baselines.get("/bench/bare-report")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
def bare_report() -> Response:
    with container().reads() as db:  # PostgreSQL: autocommit, no BEGIN/ROLLBACK round trips
        return jsonify(_read(db))


app.register_blueprint(baselines)
