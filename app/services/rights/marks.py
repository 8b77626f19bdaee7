"""What every answer showing a record shows with it: its objection mark and its statement.

Guarantees:
- a record (any version of the provider's record: a mark follows corrections) carries the
  newest objection filed against it — `under_objection` while it is open, at once from the
  unit that filed it — and the active statement its subject made on it, with the statement's
  text (opened here: it is meant to be shown wherever the record is);
- the objection mark holds dates, stage, status and outcome, never what the subject or the
  registrar wrote (the subject sees that on their own objections page);
- read only for subjects who ever objected or made a statement (`Subject.has_notes`), in the
  caller's unit or snapshot; nothing here writes, logs or commits; a sealed-value failure
  propagates (fail closed).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from app.models import Objection, Statement
from crypto.fields import FieldCipher

_OBJECTIONS = cast(Table, Objection.__table__)
_STATEMENTS = cast(Table, Statement.__table__)
#: A record as providers know it: every version of it shares this key.
RecordKey = tuple[uuid.UUID, str]


def day_of(moment: datetime | None) -> str | None:
    return None if moment is None else moment.date().isoformat()


def objection_mark(
    *,
    objection_id: uuid.UUID,
    status: str,
    stage: str,
    filed_at: datetime,
    due_on: date | None,
    outcome: str | None,
    resolved_at: datetime | None,
    corrected_record_id: uuid.UUID | None,
    on: date,
) -> dict[str, Any]:
    """The mark a record carries for an objection (no text): the one shape everywhere."""
    open_ = status == "open"
    return {
        "id": str(objection_id),
        "under_objection": open_,
        "status": status,
        "stage": stage,
        "filed_on": day_of(filed_at),
        "due_on": None if due_on is None else due_on.isoformat(),
        "overdue": open_ and due_on is not None and due_on < on,
        "outcome": outcome,
        "resolved_on": day_of(resolved_at),
        "corrected_record_id": None if corrected_record_id is None else str(corrected_record_id),
    }


@dataclass(frozen=True)
class RecordNotes:
    """The marks of one subject's records, by record key."""

    objections: Mapping[RecordKey, dict[str, Any]] = field(default_factory=dict)
    statements: Mapping[RecordKey, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.objections or self.statements)

    def attach(
        self,
        shown: dict[str, Any],
        key: RecordKey,
        objections: list[dict[str, Any]],
        statements: list[dict[str, Any]],
    ) -> None:
        """Put the marks of the record with `key` on its shown block `shown` (which holds
        its `id` and `type`), and list them in the report's two sections."""
        about = {"record_id": shown["id"], "record_type": shown["type"]}
        mark = self.objections.get(key)
        if mark is not None:
            shown["objection"] = mark
            objections.append({**about, **mark})
        statement = self.statements.get(key)
        if statement is not None:
            shown["statement"] = statement
            statements.append({**about, **statement})


NO_NOTES = RecordNotes()


def read_notes(
    connection: Connection, subject_id: uuid.UUID, cipher: FieldCipher, *, on: date
) -> RecordNotes:
    """The newest objection and the active statement of each of the subject's records."""
    objections: dict[RecordKey, dict[str, Any]] = {}
    for row in connection.execute(
        select(
            _OBJECTIONS.c.id,
            _OBJECTIONS.c.provider_id,
            _OBJECTIONS.c.provider_record_id,
            _OBJECTIONS.c.status,
            _OBJECTIONS.c.stage,
            _OBJECTIONS.c.filed_at,
            _OBJECTIONS.c.due_on,
            _OBJECTIONS.c.outcome,
            _OBJECTIONS.c.resolved_at,
            _OBJECTIONS.c.corrected_record_id,
        )
        .where(_OBJECTIONS.c.subject_id == subject_id)
        .order_by(_OBJECTIONS.c.filed_at, _OBJECTIONS.c.id)
    ):
        objections[(row.provider_id, row.provider_record_id)] = objection_mark(
            objection_id=row.id,
            status=row.status,
            stage=row.stage,
            filed_at=row.filed_at,
            due_on=row.due_on,
            outcome=row.outcome,
            resolved_at=row.resolved_at,
            corrected_record_id=row.corrected_record_id,
            on=on,
        )
    statements: dict[RecordKey, dict[str, Any]] = {}
    for made in connection.execute(
        select(
            _STATEMENTS.c.id,
            _STATEMENTS.c.provider_id,
            _STATEMENTS.c.provider_record_id,
            _STATEMENTS.c.text,
            _STATEMENTS.c.made_at,
        ).where(_STATEMENTS.c.subject_id == subject_id, _STATEMENTS.c.status == "active")
    ):
        text = cipher.open_json(Statement.context_for(made.id, "text"), made.text)
        statements[(made.provider_id, made.provider_record_id)] = {
            "id": str(made.id),
            "text": text,
            "made_on": day_of(made.made_at),
        }
    return RecordNotes(objections, statements)
