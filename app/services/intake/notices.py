"""What a subject sees of the prior notices of negative records about them (Art. 15).

Guarantees: a subject sees only notices about themselves (by subject id from their session),
each with the record type's titles, the provider's name, the day and channel the provider says
the subject was told, the day the record was received and whether it is still shown (current,
corrected or withdrawn); never the record's content, which the own report shows. Newest first.
The inbox that pushes these to the subject is a later issue.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DataProvider, PriorNotice, Record
from app.services.outcomes import Answer, Answered, refusal_for
from app.services.querylog.attempt import Asker, Parts
from policies.actions import Action
from policies.catalog import Catalog
from policies.decision import Target

_STATUS = {"current": "shown", "superseded": "corrected", "withdrawn": "withdrawn"}


def notices_for(db: Session, subject_id: uuid.UUID, catalog: Catalog) -> list[dict[str, Any]]:
    rows = db.execute(
        select(
            PriorNotice.record_type,
            PriorNotice.notified_on,
            PriorNotice.channel,
            DataProvider.name,
            Record.received_on,
            Record.status,
        )
        .join(DataProvider, DataProvider.id == PriorNotice.provider_id)
        .join(Record, Record.id == PriorNotice.record_id)
        .where(PriorNotice.subject_id == subject_id)
        .order_by(PriorNotice.notified_on.desc(), PriorNotice.id.desc())
    ).all()
    notices = []
    for code, notified_on, channel, provider, received_on, status in rows:
        record_type = catalog.get(code)
        notices.append(
            {
                "record_type": code,
                "title": record_type.title if record_type else code,
                "title_zh": record_type.title_zh if record_type else code,
                "provider": provider,
                "notified_on": notified_on.isoformat(),
                "channel": channel,
                "received_on": None if received_on is None else received_on.isoformat(),
                "record": _STATUS.get(status, status),
            }
        )
    return notices


class OwnNotices:
    """`self:notice:read`: the caller's own prior notices. Only a subject logged in with
    password and card is allowed (the policy engine decides before anything is read)."""

    def __init__(self, parts: Parts, catalog: Catalog) -> None:
        self.parts = parts
        self.catalog = catalog

    def listing(self, asker: Asker) -> Answer:
        own = asker.subject_id is not None
        decision = self.parts.policy.decide(
            asker.caller,
            Action.SELF_NOTICE_READ,
            Target(relation="own" if own else "none"),
            on=self.parts.clock.today(),
        )
        if not decision.allowed or asker.subject_id is None:
            return refusal_for(decision)
        with self.parts.unit() as db:
            return Answered({"notices": notices_for(db, asker.subject_id, self.catalog)})
