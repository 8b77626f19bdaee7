"""Applying one chunk of checked rows of a batch to the database, in the caller's unit of work.

Guarantees:
- a row is applied whole or refused whole: every check that can refuse it (provider, subject
  name, held records, consents) runs before anything of it is written, and a refused row adds
  only its `RowError`; the other rows of the chunk are unaffected;
- a provider touches only its own records: rows naming another provider are refused
  (`intake.provider_mismatch`), and records are looked up only under the provider's own id;
- idempotent by (provider, provider record id): an `add` of a record held with the same
  content, a `correct` to the content already current, a `withdraw` of a withdrawn record, or
  a consent on record again, is counted `unchanged` and writes nothing;
- a correction writes a new version (sealed anew) and marks the one before `superseded`; a
  withdrawal marks the current version `withdrawn`; neither deletes anything (history), both
  take the record out of the public-list index at once, and each is one query-log entry
  (`provider:records:submit`, reason `corrected` / `withdrawn`, the subject's blind index);
- ID numbers reach the database only as blind indexes (one HMAC per distinct number per
  chunk) and inside sealed identities; payloads only sealed, under the data key of their
  expiry epoch; a record already past its destruction day is counted `expired`, not stored;
- consent-bound fields are stored only under a written consent on record for the same
  provider and subject that covers their concepts (`intake.consent_unknown` otherwise);
- a subject already held is written to only under the name on record (`identity.name_mismatch`);
- every subject whose records the chunk added, corrected or withdrew is graded again in the
  same unit (`app.services.grades.grading`), from the payloads the chunk holds in plain and the
  other records' plain columns, so a grade never lags the records it rests on.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    LargeBinary,
    Table,
    bindparam,
    delete,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from app.models import (
    CollectionConsent,
    DataProvider,
    PriorNotice,
    PublicListEntry,
    Record,
    Subject,
)
from app.models.ids import uuid7
from app.services.grades.grading import Grader, Proposer
from app.services.keys.lifecycle import KeyService, wrapping_label_for
from app.services.lists.public_lists import index_rows, normalise_person_name
from app.services.querylog.log import QueryAttempt, QueryLog
from app.services.rights.repair import keep_repairs
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.envelope import Envelope
from crypto.fields import canonical_json
from crypto.keys import WrappingKey
from policies.actions import Action
from policies.unified_format import ConsentLine, Line, Person, RecordLine, RowError, WithdrawLine

_SUBJECTS = cast(Table, Subject.__table__)
_RECORDS = cast(Table, Record.__table__)
_NOTICES = cast(Table, PriorNotice.__table__)
_CONSENTS = cast(Table, CollectionConsent.__table__)
_ENTRIES = cast(Table, PublicListEntry.__table__)
_RETIRE = (
    update(_RECORDS)
    .where(_RECORDS.c.id == bindparam("record_id"))
    .values(
        status=bindparam("new_status"),
        status_changed_at=bindparam("at"),
        change_reason=bindparam("reason"),
    )
)


@dataclass
class ChunkCounts:
    rows: int = 0
    added: int = 0
    corrected: int = 0
    withdrawn: int = 0
    unchanged: int = 0
    consents: int = 0
    expired: int = 0
    rejected: int = 0

    def add(self, other: ChunkCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Held:
    """The latest version of one of the provider's records, as this chunk knows it."""

    id: uuid.UUID
    record_type: str
    subject_id: uuid.UUID
    status: str
    version: int
    occurred_on: date
    ended_on: date | None
    display_until: date | None
    payload: Any  # an Envelope (stored) or the plain dict (written in this chunk)


@dataclass
class _Subject:
    id: uuid.UUID
    bidx: bytes
    name: str | None  # the name on record, or the name this chunk creates it with
    new: bool = False
    folded: str | None = None  # `normalise_person_name(name)`, once needed


@dataclass
class _Consent:
    id: uuid.UUID
    subject_id: uuid.UUID
    concepts: frozenset[str]
    signed_on: date


@dataclass
class ChunkContext:
    """What every chunk of one batch shares."""

    provider: DataProvider
    batch_id: uuid.UUID
    today: date
    now: datetime
    actor_ref: str
    request_id: str
    client_address: str
    catalog_version: str
    public_types: frozenset[str]


@dataclass
class ChunkWriter:
    keys: KeyService
    log: QueryLog
    context: ChunkContext
    grader: Grader | None = None  # None: records change without grading (demo seeding)
    _key_ids: dict[str, int] = field(default_factory=dict)

    def apply(self, db: Session, lines: Sequence[Line]) -> tuple[ChunkCounts, list[RowError]]:
        """Apply the checked `lines` (in row order); the counts and the rows refused."""
        counts = ChunkCounts()
        errors: list[RowError] = []
        work = _Work()
        connection = db.connection()  # Core statements on the unit's connection
        lines = keep_repairs(connection, self.context.provider.id, lines)
        subjects = self._subjects(connection, lines)
        held = self._held(connection, lines)
        consents = self._consents(connection, lines)
        for line in lines:
            problem = self._apply_line(db, line, subjects, held, consents, work, counts)
            if problem is not None:
                errors.append(problem)
                counts.rejected += 1
        self._write(db, connection, work, subjects)
        if self.grader is not None and work.graded:
            self.grader.regrade(
                connection,
                work.graded,
                on=self.context.today,
                now=self.context.now,
                proposer=Proposer(self.context.actor_ref),
                opened=work.opened,
            )
        return counts, errors

    # --- reading what the chunk needs, in one query each ----------------------------------

    def _subjects(self, db: Connection, lines: Sequence[Line]) -> dict[str, _Subject]:
        numbers = sorted(
            {ln.subject.id_number for ln in lines if isinstance(ln, RecordLine | ConsentLine)}
        )
        bidx = {n: blind_index(self.keys.provider, BlindIndexKind.CITIZEN_ID, n) for n in numbers}
        by_bidx = {value: number for number, value in bidx.items()}
        found: dict[str, _Subject] = {}
        if by_bidx:
            rows = db.execute(
                select(_SUBJECTS.c.id, _SUBJECTS.c.id_bidx, _SUBJECTS.c.identity).where(
                    _SUBJECTS.c.id_bidx.in_(list(by_bidx))
                )
            )
            for subject_id, subject_bidx, identity in rows:
                opened = self.keys.cipher.open_json(
                    Subject.context_for(subject_id, "identity"), identity
                )
                found[by_bidx[subject_bidx]] = _Subject(
                    subject_id, subject_bidx, str(opened.get("name", ""))
                )
        for number in numbers:
            if number not in found:
                found[number] = _Subject(uuid7(), bidx[number], None, new=True)
        return found

    def _held(self, db: Connection, lines: Sequence[Line]) -> dict[str, _Held]:
        ids = sorted({ln.record_id for ln in lines if isinstance(ln, RecordLine | WithdrawLine)})
        held: dict[str, _Held] = {}
        if not ids:
            return held
        rows = db.execute(
            select(
                _RECORDS.c.provider_record_id,
                _RECORDS.c.id,
                _RECORDS.c.record_type,
                _RECORDS.c.subject_id,
                _RECORDS.c.status,
                _RECORDS.c.version,
                _RECORDS.c.occurred_on,
                _RECORDS.c.ended_on,
                _RECORDS.c.display_until,
                type_coerce(_RECORDS.c.payload, LargeBinary),
            ).where(
                _RECORDS.c.provider_id == self.context.provider.id,
                _RECORDS.c.provider_record_id.in_(ids),
                _RECORDS.c.status != "superseded",
            )
        )
        for ref, *rest in rows:
            record_id, code, subject_id, status, version, occurred, ended, shown, sealed = rest
            held[ref] = _Held(
                record_id, code, subject_id, status, version, occurred, ended, shown,
                Envelope.from_bytes(sealed),
            )  # fmt: skip
        return held

    def _consents(self, db: Connection, lines: Sequence[Line]) -> dict[str, _Consent]:
        refs = sorted(
            {
                ref
                for ln in lines
                if isinstance(ln, RecordLine | ConsentLine)
                for ref in [ln.consent_ref]
                if ref is not None
            }
        )
        if not refs:
            return {}
        rows = db.execute(
            select(
                _CONSENTS.c.consent_ref,
                _CONSENTS.c.id,
                _CONSENTS.c.subject_id,
                _CONSENTS.c.concepts,
                _CONSENTS.c.signed_on,
            ).where(
                _CONSENTS.c.provider_id == self.context.provider.id,
                _CONSENTS.c.consent_ref.in_(refs),
            )
        )
        return {
            ref: _Consent(consent_id, subject_id, frozenset(concepts.split(",")), signed_on)
            for ref, consent_id, subject_id, concepts, signed_on in rows
        }

    # --- one row ---------------------------------------------------------------------------

    def _apply_line(
        self,
        db: Session,
        line: Line,
        subjects: dict[str, _Subject],
        held: dict[str, _Held],
        consents: dict[str, _Consent],
        work: _Work,
        counts: ChunkCounts,
    ) -> RowError | None:
        counts.rows += 1
        if line.provider != self.context.provider.credit_code:
            return RowError(
                line.row, "provider", "intake.provider_mismatch", "is not the submitting provider"
            )
        if isinstance(line, WithdrawLine):
            return self._withdraw(line, held, work, counts)
        subject = subjects[line.subject.id_number]
        problem = _check_name(line.row, subject, line.subject)
        if problem is not None:
            return problem
        if isinstance(line, ConsentLine):
            return self._consent(line, subject, consents, work, counts)
        return self._record(db, line, subject, held, consents, work, counts)

    def _consent(
        self,
        line: ConsentLine,
        subject: _Subject,
        consents: dict[str, _Consent],
        work: _Work,
        counts: ChunkCounts,
    ) -> RowError | None:
        known = consents.get(line.consent_ref)
        if known is not None:
            if (known.subject_id, known.concepts, known.signed_on) == (
                subject.id, line.concepts, line.signed_on
            ):  # fmt: skip
                counts.unchanged += 1
                return None
            return RowError(
                line.row,
                "consent_ref",
                "intake.consent_ref_taken",
                "is on record with other content",
            )
        consent = _Consent(uuid7(), subject.id, line.concepts, line.signed_on)
        consents[line.consent_ref] = consent
        work.claim(subject, line.subject.name)
        work.consents.append(
            {
                "id": consent.id,
                "provider_id": self.context.provider.id,
                "subject_id": subject.id,
                "consent_ref": line.consent_ref,
                "signed_on": line.signed_on,
                "concepts": ",".join(sorted(line.concepts)),
                "batch_id": self.context.batch_id,
                "created_at": self.context.now,
            }
        )
        counts.consents += 1
        return None

    def _record(
        self,
        db: Session,
        line: RecordLine,
        subject: _Subject,
        held: dict[str, _Held],
        consents: dict[str, _Consent],
        work: _Work,
        counts: ChunkCounts,
    ) -> RowError | None:
        known = held.get(line.record_id)
        if line.op == "add":
            if known is not None:
                if known.status == "current" and self._same(known, line, subject):
                    counts.unchanged += 1
                    return None
                rule = (
                    "intake.duplicate_row"
                    if known.id in work.written_here
                    else "intake.record_exists"
                )
                return RowError(line.row, "record_id", rule, "is held with other content")
        else:
            if known is None or known.status != "current":
                return RowError(
                    line.row, "record_id", "intake.unknown_record", "no current record has it"
                )
            if known.record_type != line.record_type.code:
                return RowError(
                    line.row, "type", "intake.type_changed", "differs from the record's type"
                )
            if self._same(known, line, subject):
                counts.unchanged += 1
                return None
        consent_id: uuid.UUID | None = None
        if line.consent_concepts:
            assert line.consent_ref is not None
            consent = consents.get(line.consent_ref)
            if (
                consent is None
                or consent.subject_id != subject.id
                or not line.consent_concepts <= consent.concepts
            ):
                return RowError(
                    line.row,
                    "consent_ref",
                    "intake.consent_unknown",
                    "no written consent on record covers these fields for this subject",
                )
            consent_id = consent.id
        if line.destroy_after is not None and line.destroy_after < self.context.today:
            counts.expired += 1  # past its destruction day: never stored
            return None
        work.claim(subject, line.subject.name)
        record_id = uuid7()
        version = 1
        if known is not None:  # a correction: the version before stops showing now
            version = known.version + 1
            work.retire(
                known.id, "superseded", line.reason, subject.bidx, subject_id=known.subject_id
            )
            counts.corrected += 1
        else:
            counts.added += 1
        work.records.append(self._row(db, record_id, line, subject, version, consent_id))
        work.written_here.add(record_id)
        work.opened[record_id] = line.payload
        work.graded.add(subject.id)
        if line.notice is not None:
            work.notices.append(
                {
                    "id": uuid7(),
                    "record_id": record_id,
                    "subject_id": subject.id,
                    "provider_id": self.context.provider.id,
                    "record_type": line.record_type.code,
                    "notified_on": line.notice[0],
                    "channel": line.notice[1],
                    "created_at": self.context.now,
                }
            )
        if line.record_type.code in self.context.public_types:
            work.public.setdefault(subject.id, []).append((record_id, line.record_type.code))
        held[line.record_id] = _Held(
            record_id, line.record_type.code, subject.id, "current", version, line.occurred_on,
            line.ended_on, line.display_until, line.payload,
        )  # fmt: skip
        return None

    def _withdraw(
        self, line: WithdrawLine, held: dict[str, _Held], work: _Work, counts: ChunkCounts
    ) -> RowError | None:
        known = held.get(line.record_id)
        if known is not None and known.status == "withdrawn":
            counts.unchanged += 1
            return None
        if known is None:
            return RowError(
                line.row, "record_id", "intake.unknown_record", "no current record has it"
            )
        work.retire(known.id, "withdrawn", line.reason, None, subject_id=known.subject_id)
        known.status = "withdrawn"
        counts.withdrawn += 1
        return None

    def _same(self, known: _Held, line: RecordLine, subject: _Subject) -> bool:
        if (
            known.record_type,
            known.subject_id,
            known.occurred_on,
            known.ended_on,
            known.display_until,
        ) != (
            line.record_type.code,
            subject.id,
            line.occurred_on,
            line.ended_on,
            line.display_until,
        ):
            return False
        payload = known.payload
        if isinstance(payload, Envelope):
            payload = self.keys.cipher.open_json(Record.context_for(known.id, "payload"), payload)
        return bool(canonical_json(payload) == canonical_json(line.payload))

    def _row(
        self,
        db: Session,
        record_id: uuid.UUID,
        line: RecordLine,
        subject: _Subject,
        version: int,
        consent_id: uuid.UUID | None,
    ) -> dict[str, Any]:
        key_id = self._key_id(db, wrapping_label_for(line.destroy_after))
        record_type = line.record_type
        return {
            "id": record_id,
            "subject_id": subject.id,
            "provider_id": self.context.provider.id,
            "record_type": record_type.code,
            "category": record_type.category,
            "disclosure": record_type.disclosure,
            "is_negative": record_type.negative,
            "occurred_on": line.occurred_on,
            "ended_on": line.ended_on,
            "display_until": line.display_until,
            "destroy_after": line.destroy_after,
            "catalog_version": self.context.catalog_version,
            "data_key_id": key_id,
            "dek_generation": 1,
            "payload": self.keys.cipher.seal(
                Record.context_for(record_id, "payload"), canonical_json(line.payload), key_id
            ),
            "created_at": self.context.now,
            "provider_record_id": line.record_id,
            "version": version,
            "status": "current",
            "status_changed_at": None,
            "change_reason": line.reason,
            "batch_id": self.context.batch_id,
            "received_on": self.context.today,
            "consent_id": consent_id,
        }

    def _key_id(self, db: Session, label: str) -> int:
        found = self._key_ids.get(label)
        if found is None:
            found = self.keys.active_key_id(db, label)
            self._key_ids[label] = found
        return found

    # --- writing -----------------------------------------------------------------------------

    def _write(
        self, session: Session, db: Connection, work: _Work, subjects: dict[str, _Subject]
    ) -> None:
        new_subjects = [s for s in subjects.values() if s.new and s.id in work.claimed]
        if new_subjects:
            master = self._key_id(session, WrappingKey.MASTER.value)
            numbers = {s.id: n for n, s in subjects.items()}
            db.execute(
                insert(_SUBJECTS),
                [
                    {
                        "id": s.id,
                        "id_bidx": s.bidx,
                        "data_key_id": master,
                        "created_at": self.context.now,
                        "identity": self.keys.cipher.seal(
                            Subject.context_for(s.id, "identity"),
                            canonical_json({"id_number": numbers[s.id], "name": s.name}),
                            master,
                        ),
                    }
                    for s in new_subjects
                ],
            )
        if work.consents:
            db.execute(insert(_CONSENTS), work.consents)
        for row in work.records:
            if row["status"] != "current":
                row["status_changed_at"] = self.context.now
        if work.retired:
            gone = [row["record_id"] for row in work.retired]
            db.execute(delete(_ENTRIES).where(_ENTRIES.c.record_id.in_(gone)))
            db.execute(
                _RETIRE,
                [
                    {
                        "record_id": row["record_id"],
                        "new_status": row["new_status"],
                        "at": self.context.now,
                        "reason": row["reason"],
                    }
                    for row in work.retired
                ],
            )
        if work.records:
            db.execute(insert(_RECORDS), work.records)
        if work.notices:
            db.execute(insert(_NOTICES), work.notices)
        list_rows: list[dict[str, Any]] = []
        by_id = {s.id: s for s in subjects.values()}
        for subject_id, public in work.public.items():
            subject = by_id[subject_id]
            assert subject.name is not None
            list_rows += index_rows(
                self.keys.provider,
                subject_id=subject_id,
                id_bidx=subject.bidx,
                name=subject.name,
                records=[(rid, code) for rid, code in public if rid not in work.retired_ids],
                public_types=self.context.public_types,
            )
        if list_rows:
            db.execute(insert(_ENTRIES), list_rows)
        self._log(db, work, by_id)

    def _log(self, db: Connection, work: _Work, subjects: dict[uuid.UUID, _Subject]) -> None:
        bidx_of = self._bidx_of(db, work, subjects)
        for retired in work.changes:
            reason = "corrected" if retired["new_status"] == "superseded" else "withdrawn"
            self.log.append(
                db,
                QueryAttempt(
                    action=Action.PROVIDER_RECORDS_SUBMIT.value,
                    decision="allowed",
                    reason=reason,
                    actor_kind="institution",
                    actor_ref=self.context.actor_ref,
                    request_id=self.context.request_id,
                    client_address=self.context.client_address,
                    subject_bidx=bidx_of.get(retired["record_id"]),
                    at=self.context.now,
                ),
            )

    @staticmethod
    def _bidx_of(
        db: Connection, work: _Work, subjects: dict[uuid.UUID, _Subject]
    ) -> dict[uuid.UUID, bytes]:
        """The subject's blind index for each retired record (read for withdrawals)."""
        found: dict[uuid.UUID, bytes] = {}
        wanted: dict[uuid.UUID, uuid.UUID] = {}
        for retired in work.changes:
            record_id = retired["record_id"]
            if retired["bidx"] is not None:
                found[record_id] = retired["bidx"]
            elif retired["subject_id"] in subjects:
                found[record_id] = subjects[retired["subject_id"]].bidx
            else:
                wanted[record_id] = retired["subject_id"]
        if wanted:
            rows = db.execute(
                select(_SUBJECTS.c.id, _SUBJECTS.c.id_bidx).where(
                    _SUBJECTS.c.id.in_(sorted(set(wanted.values())))
                )
            )
            bidx = {subject_id: value for subject_id, value in rows}
            for record_id, subject_id in wanted.items():
                found[record_id] = bidx[subject_id]
        return found


@dataclass
class _Work:
    """What one chunk will write."""

    records: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    retired: list[dict[str, Any]] = field(default_factory=list)  # rows held before the chunk
    changes: list[dict[str, Any]] = field(default_factory=list)  # every retirement, for the log
    retired_ids: set[uuid.UUID] = field(default_factory=set)
    public: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = field(default_factory=dict)
    claimed: set[uuid.UUID] = field(default_factory=set)
    written_here: set[uuid.UUID] = field(default_factory=set)
    graded: set[uuid.UUID] = field(default_factory=set)  # subjects whose records changed
    opened: dict[uuid.UUID, Any] = field(default_factory=dict)  # payloads written, in plain

    def claim(self, subject: _Subject, name: str) -> None:
        """The subject is written to by this chunk (a new one is created with `name`)."""
        if subject.name is None:
            subject.name = name
        self.claimed.add(subject.id)

    def retire(
        self,
        record_id: uuid.UUID,
        status: str,
        reason: str | None,
        bidx: bytes | None,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None:
        change = {
            "record_id": record_id,
            "new_status": status,
            "reason": reason,
            "bidx": bidx,
            "subject_id": subject_id,
        }
        self.changes.append(change)
        self.retired_ids.add(record_id)
        if subject_id is not None:
            self.graded.add(subject_id)
        if record_id in self.written_here:  # written by this chunk: retire it before insert
            for row in self.records:
                if row["id"] == record_id:
                    row["status"] = status
                    row["change_reason"] = reason
            return
        self.retired.append(change)


def _check_name(row: int, subject: _Subject, person: Person) -> RowError | None:
    if subject.name is None or subject.name == person.name:
        return None
    if subject.folded is None:
        subject.folded = normalise_person_name(subject.name)
    if subject.folded != normalise_person_name(person.name):
        return RowError(
            row, "subject.name", "identity.name_mismatch", "differs from the name on record"
        )
    return None


def counts_of(rows: Iterable[ChunkCounts]) -> ChunkCounts:
    total = ChunkCounts()
    for counts in rows:
        total.add(counts)
    return total
