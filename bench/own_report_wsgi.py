"""The server the own-report benchmark loads: the real application (`create_app`) with the
benchmark's policy file, plus one bare endpoint as the same-run baseline.

The bare endpoint reads the same subject's record rows without a session, a policy decision,
decryption or a log entry, and answers their plain columns as JSON: the floor a query endpoint
on this stack cannot beat. It exists only in this module, never in `wsgi.py`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from app.container import container
from app.factory import create_app
from app.models import Record
from app.services.policy import Action
from app.web.gate import bound_to, public

app = create_app(policy_path=Path(os.environ["CG_BENCH_POLICY"]))
SUBJECT = uuid.UUID(os.environ["CG_BENCH_SUBJECT"])
bare = Blueprint("bench_bare", __name__)


@bare.get("/bench/bare-report")
@bound_to(Action.SERVICE_HEALTH_READ)
@public
def bare_report() -> Response:
    with container().sessions() as db:
        rows = db.execute(
            select(
                Record.id,
                Record.record_type,
                Record.category,
                Record.occurred_on,
                Record.ended_on,
                Record.display_until,
                Record.payload,
            ).where(Record.subject_id == SUBJECT)
        ).all()
    return jsonify(
        records=[
            {
                "id": str(row.id),
                "type": row.record_type,
                "category": row.category,
                "occurred_on": row.occurred_on.isoformat(),
                "ended_on": row.ended_on.isoformat() if row.ended_on else None,
                "display_until": row.display_until.isoformat() if row.display_until else None,
                "payload_bytes": len(row.payload.to_bytes()),
            }
            for row in rows
        ]
    )


app.register_blueprint(bare)
