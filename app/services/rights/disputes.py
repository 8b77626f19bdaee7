"""Who else sees an objection: the record's provider (`provider:objection:read`) and the
institutions that received the record (`institution:dispute:read`); and the record of what
each institution report released, which the second needs.

Guarantees (the shape of every logged query: `app.services.querylog.attempt`):
- a provider sees the open objections on its own records only (by the provider behind its
  OAuth client, scope `provider:records:submit`): its record id, the version objected to, the
  stage, the dates and what the subject says is wrong, so that it can check and correct
  through intake; never the subject's identity. Not a registered provider: 403
  `not_a_provider`;
- an institution sees the disputes on records it received in an institution report from
  `dispute_window_days` (30) before the objection was filed on: the record id as released,
  the stage, the dates and the outcome — never what the subject or the registrar wrote;
- `record_released` writes, in the unit that appends an institution report's entry, one row
  per record the report released (the entry's `fields_released` names fields, not records);
- every attempt writes exactly one query-log entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from app.models import Objection, Record, ReleasedRecord
from app.models.base import as_utc
from app.services.intake.providers import provider_for_client
from app.services.outcomes import Answer, Answered, RefusalKind, Refused, refusal_for
from app.services.querylog.attempt import Asker, LoggedQuery, run_logged
from app.services.rights.common import RightsParts, titles
from app.services.rights.marks import objection_mark
from app.services.rights.objections import objection_view
from policies.actions import Action
from policies.decision import Target

_RELEASED = cast(Table, ReleasedRecord.__table__)
NOT_A_PROVIDER = Refused(
    RefusalKind.FORBIDDEN, "not_a_provider", "This client is not registered as a data provider."
)


def record_released(
    db: Session,
    *,
    log_seq: int,
    institution_id: uuid.UUID,
    record_ids: Iterable[str],
    at: datetime,
) -> None:
    """Note which records the report logged as entry `log_seq` released (one executemany)."""
    rows = [
        {
            "log_seq": log_seq,
            "record_id": uuid.UUID(record_id),
            "institution_id": institution_id,
            "released_at": at,
        }
        for record_id in sorted(set(record_ids))
    ]
    if rows:
        db.execute(insert(_RELEASED), rows)


class Disputes:
    def __init__(self, parts: RightsParts) -> None:
        self.parts = parts

    def for_provider(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.PROVIDER_OBJECTION_READ, asker, self._provider)

    def for_institution(self, asker: Asker) -> Answer:
        return run_logged(self.parts, Action.INSTITUTION_DISPUTE_READ, asker, self._institution)

    def _provider(self, q: LoggedQuery) -> Answer:
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            assert q.asker.institution_id is not None
            provider = provider_for_client(db, q.asker.institution_id)
            if provider is None:
                q.deny(db, "not_a_provider")
                return NOT_A_PROVIDER
            rows = db.execute(
                select(Objection, Record.version)
                .join(Record, Record.id == Objection.record_id)
                .where(Objection.provider_id == provider.id, Objection.status == "open")
                .order_by(Objection.due_on, Objection.filed_at)
            ).all()
            views = []
            for row, version in rows:
                view = objection_view(self.parts, row, with_text=True)
                view.pop("reason")
                view.update(provider_record_id=row.provider_record_id, version=version)
                views.append(view)
            q.allow(db)
        return Answered({"objections": views, "as_of": q.on.isoformat()})

    def _institution(self, q: LoggedQuery) -> Answer:
        window = timedelta(days=self.parts.rights.dispute_window_days)
        with q.unit() as db:
            decision = q.decide(Target())
            if not decision.allowed:
                q.deny(db)
                return refusal_for(decision)
            received = (
                select(
                    _RELEASED.c.record_id,
                    _RELEASED.c.released_at,
                    Record.provider_id,
                    Record.provider_record_id,
                )
                .join(Record, Record.id == _RELEASED.c.record_id)
                .where(_RELEASED.c.institution_id == q.asker.institution_id)
                .subquery()
            )
            rows = db.execute(
                select(Objection, received.c.record_id, received.c.released_at)
                .join(
                    received,
                    (received.c.provider_id == Objection.provider_id)
                    & (received.c.provider_record_id == Objection.provider_record_id),
                )
                .order_by(Objection.filed_at.desc(), received.c.released_at.desc())
            ).all()
            disputes: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
            for row, record_id, released_at in rows:
                if as_utc(released_at) < as_utc(row.filed_at) - window:
                    continue
                key = (row.id, record_id)
                if key in disputes:
                    continue
                disputes[key] = {
                    **objection_mark(
                        objection_id=row.id,
                        status=row.status,
                        stage=row.stage,
                        filed_at=row.filed_at,
                        due_on=row.due_on,
                        outcome=row.outcome,
                        resolved_at=row.resolved_at,
                        corrected_record_id=row.corrected_record_id,
                        on=q.on,
                    ),
                    "record_id": str(record_id),
                    "received_on": released_at.date().isoformat(),
                    **titles(self.parts.catalog, row.record_type),
                }
            q.allow(db)
        return Answered({"disputes": list(disputes.values()), "as_of": q.on.isoformat()})
