"""Report assembly: one report shape for the self, archive and institution tiers.

`ReportService.assemble` turns an allowing decision into the report of docs/queries.md
("The report"). Guarantees:
- only record types listed in `decision.obligations.record_types` are read at all (the
  selection is made on plain columns, before anything is opened);
- only the current version of each record is read: a corrected (superseded) or withdrawn
  version is never shown, in any report kind;
- records outside their display period on `on` are hidden when the obligations say so
  (`hide_undisplayed`): a record is shown iff `occurred_on <= on <= display_until`, or
  `display_until` is None (policies/retention.py: `display_until` is the last day shown);
- every released field goes through its mask (`policies.masking.apply_mask`; the `hash` mask
  under a fresh random key per report, no HSM call); a field the
  obligations do not list is withheld entirely (absent from `fields`, not `null`); the subject's
  name and ID number are masked under the pseudo record type `"subject"` the same way;
- an unknown subject (`subject=None`) yields the same shape with empty sections, so a caller
  cannot tell "no such subject" from "no records of that class";
- `query_records` (who queried the subject) appear in the self report only;
- every shown record carries its marks, in every report kind (self, archive, institution,
  public lists), because all of them are shaped here: `objection` (the newest objection filed
  against any version of it: `under_objection` while open, its dates, stage and outcome) and
  `statement` (the subject's active statement, its text shown); the `objections` and
  `statements` sections list the same marks with the record they belong to. The keys are
  absent from a record without marks, and the marks are read only for a subject who ever
  made one (`Subject.has_notes`), so other reports cost nothing more
  (`app.services.rights.marks`);
- cost: one sealed identity plus one sealed payload per released record; data keys come from
  the process-local key ring (crypto/keyring.py), so a warm report costs no HSM call at all and
  a cold one at most one per data key. No HMAC is computed here (the caller already holds the
  subject's blind index on the subject row);
- nothing here logs, commits or writes; a key or sealed-value failure propagates (fail closed).
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import (
    Connection,
    LargeBinary,
    Select,
    String,
    Table,
    bindparam,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from app.models import Record, Subject, SubjectGrade
from app.models.base import utcnow
from app.services.querylog.records import QueryRecord
from app.services.rights.marks import NO_NOTES, RecordNotes, read_notes
from crypto.envelope import Envelope
from crypto.fields import FieldCipher
from policies.catalog import Catalog
from policies.catalog_model import FieldType, MaskKind
from policies.decision import Decision, Obligations
from policies.masking import apply_mask
from policies.retention import add_months

REPORT_KINDS = (
    "self",
    "archive",
    "institution",
    "government",
    "public",
)  # public: list search results
SUBJECT_PSEUDO_TYPE = "subject"
SECTION_BY_CATEGORY: Mapping[str, str] = {
    "A": "identity",
    "B": "financial",
    "C": "social",
    "D": "special",
}
_IDENTITY_FIELD_TYPES: Mapping[str, FieldType] = {"name": "string", "id_number": "id_number"}
_SUBJECTS = cast(Table, Subject.__table__)
_GRADES = cast(Table, SubjectGrade.__table__)
#: the subject and, joined on its primary key, the grade that counts (the self report's
#: `grade`: read in the same statement, so the report costs no query more)
_SUBJECT = (
    select(
        _SUBJECTS.c.id,
        _SUBJECTS.c.id_bidx,
        _SUBJECTS.c.identity,
        _SUBJECTS.c.has_notes,
        _GRADES.c.counted_grade,
        _GRADES.c.counted_score,
        _GRADES.c.counted_explanation,
    )
    .select_from(_SUBJECTS.outerjoin(_GRADES, _GRADES.c.subject_id == _SUBJECTS.c.id))
    .where(_SUBJECTS.c.id == bindparam("subject_id"))
)
_RECORD_TABLE = cast(Table, Record.__table__)
#: The status of the one version of a record that answers show (`app.models.domain.Record`).
CURRENT = "current"


@functools.lru_cache(maxsize=64)
def _records_query(
    record_types: tuple[str, ...], displayed_only: bool, with_keys: bool = False
) -> Select[Any]:
    """A subject's records of the released types, in report order; `displayed_only` keeps
    only records shown on `on` (occurred_on <= on <= display_until, or no end); `with_keys`
    adds each record's provider key (for a subject with marks: only then is it read). Built
    once per set of types (a policy has a handful): the types are constants of the statement,
    so no parameter list is expanded per execution. The payload is read as bytes and parsed
    where it is opened."""
    columns = [
        sql_cast(_RECORD_TABLE.c.id, String),  # as text: it is bound into the AAD as text
        _RECORD_TABLE.c.record_type,
        _RECORD_TABLE.c.category,
        _RECORD_TABLE.c.occurred_on,
        _RECORD_TABLE.c.ended_on,
        _RECORD_TABLE.c.display_until,
        type_coerce(_RECORD_TABLE.c.payload, LargeBinary),
    ]
    if with_keys:
        columns += [_RECORD_TABLE.c.provider_id, _RECORD_TABLE.c.provider_record_id]
    query = (
        select(*columns)
        .where(
            _RECORD_TABLE.c.subject_id == bindparam("subject_id"),
            _RECORD_TABLE.c.record_type.in_([literal(code, String) for code in record_types]),
            # only the current version of a record: corrected and withdrawn ones are history
            _RECORD_TABLE.c.status == literal(CURRENT, String),
        )
        .order_by(_RECORD_TABLE.c.category, _RECORD_TABLE.c.occurred_on, _RECORD_TABLE.c.id)
    )
    if displayed_only:
        query = query.where(
            _RECORD_TABLE.c.occurred_on <= bindparam("on"),
            or_(
                _RECORD_TABLE.c.display_until.is_(None),
                _RECORD_TABLE.c.display_until >= bindparam("on"),
            ),
        )
    return query


class SubjectLike(Protocol):
    """What a report needs of a subject: the ORM row or a `SubjectRef` read with Core."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def identity(self) -> Envelope | None: ...

    @property
    def has_notes(self) -> bool: ...


@dataclass(frozen=True)
class SubjectRef:
    """A subject's id, blind index and sealed identity, read without the ORM (hot path)."""

    id: uuid.UUID
    id_bidx: bytes
    identity: Envelope | None
    has_notes: bool = False
    #: the grade that counts: (grade, score, explanation JSON), or None (ungraded, or an A or
    #: an E still waiting for its second approval with nothing counted before)
    counted_grade: tuple[str, int, str] | None = None


class OpenedRecord(NamedTuple):
    """One record as read and opened in the unit of work: plain values, not yet masked."""

    id: str  # the record id as shown (and as bound into its payload's AAD)
    record_type: str
    category: str
    occurred_on: date
    ended_on: date | None
    display_until: date | None
    payload: Mapping[str, Any]
    key: tuple[uuid.UUID, str] | None = None  # (provider, provider record id): its marks'


@dataclass(frozen=True)
class OpenedReport:
    """Everything a report shows, opened under one decision: the subject's identity and the
    records the obligations select. Holds plaintext: it lives for one request and is never
    logged; `shape` masks it."""

    identity: Mapping[str, Any]
    records: tuple[OpenedRecord, ...]
    notes: RecordNotes = NO_NOTES


@dataclass(frozen=True)
class ShapedReport:
    """A report's masked blocks, before its header: the subject block and the four record
    sections, and the `type.field` names they show (what the query log records as released).
    Computed from the blocks themselves (`fields_shown`), so the log names exactly what the
    answer holds."""

    subject: dict[str, Any]
    sections: dict[str, list[dict[str, Any]]]
    objections: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def released(self) -> list[str]:
        return fields_shown(self.subject, self.sections)


def fields_shown(subject: Mapping[str, Any], sections: Mapping[str, Any]) -> list[str]:
    """The `type.field` names present in a subject block and record sections, sorted: the one
    definition of "released fields" for every report kind."""
    names = {f"{SUBJECT_PSEUDO_TYPE}.{name}" for name in subject}
    for section in SECTION_BY_CATEGORY.values():
        for record in sections.get(section, ()):
            names.update(f"{record['type']}.{name}" for name in record["fields"])
    return sorted(names)


class ReportService:
    """Assembles reports; see the module docstring for what it guarantees."""

    def __init__(
        self,
        cipher: FieldCipher,
        catalog: Catalog,
        *,
        policy_version: str = "",
        hash_key: Callable[[], bytes] = lambda: secrets.token_bytes(32),
    ) -> None:
        self.cipher = cipher
        self.catalog = catalog
        self.policy_version = policy_version
        self._new_hash_key = hash_key

    def assemble(
        self,
        db: Session,
        *,
        subject: SubjectLike | None,
        decision: Decision,
        kind: str,
        on: date,
        query_records: Sequence[QueryRecord] = (),
        fee_fen: int = 0,
    ) -> dict[str, Any]:
        """The report for `subject` under `decision` as of `on`: `open`, `shape`, then
        `document`."""
        opened = self.open(db.connection(), subject=subject, decision=decision, on=on)
        return self.document(
            self.shape(opened, decision=decision),
            decision=decision,
            kind=kind,
            on=on,
            query_records=query_records,
            fee_fen=fee_fen,
        )

    def open(
        self,
        connection: Connection,
        *,
        subject: SubjectLike | None,
        decision: Decision,
        on: date,
        named_as: Mapping[str, Any] | None = None,
    ) -> OpenedReport:
        """Read and open, on the unit's `connection`, what `decision` releases about `subject`:
        the sealed identity and the selected records (two Core reads, one AEAD open each).
        `named_as` replaces the subject's identity with how the asker named them (the
        archive extract names the subject only as the buyer did, so that it reads the same
        whether or not the subject exists); the sealed identity is then not opened at all.
        A key or sealed-value failure propagates (fail closed)."""
        obligations = _allowing(decision)
        if subject is None:
            return OpenedReport(named_as if named_as is not None else {}, ())
        identity: Mapping[str, Any] = (
            named_as
            if named_as is not None
            else {}
            if subject.identity is None
            else self.cipher.open_json(
                Subject.context_for(subject.id, "identity"), subject.identity
            )
        )
        records = self._records(connection, subject.id, obligations, on, subject.has_notes)
        notes = (
            read_notes(connection, subject.id, self.cipher, on=on)
            if records and subject.has_notes
            else NO_NOTES
        )
        return OpenedReport(identity, records, notes)

    def shape(self, opened: OpenedReport, *, decision: Decision) -> ShapedReport:
        """Every field of `opened` through its mask, into the subject block and the record
        sections; a field the obligations do not list is left out. Reads and writes nothing,
        so it may run outside any unit of work."""
        obligations = _allowing(decision)
        masker = _Masker(self._new_hash_key)
        sections: dict[str, list[dict[str, Any]]] = {
            name: [] for name in SECTION_BY_CATEGORY.values()
        }
        objections: list[dict[str, Any]] = []
        statements: list[dict[str, Any]] = []
        for record in opened.records:
            shown = self._record(record, obligations, masker)
            if opened.notes and record.key is not None:
                opened.notes.attach(shown, record.key, objections, statements)
            sections[SECTION_BY_CATEGORY[record.category]].append(shown)
        identity = self._identity(opened.identity, obligations, masker)
        return ShapedReport(identity, sections, objections, statements)

    def document(
        self,
        shaped: ShapedReport,
        *,
        decision: Decision,
        kind: str,
        on: date,
        query_records: Sequence[QueryRecord] = (),
        fee_fen: int = 0,
        grade: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The report document around `shaped`: header, blocks, and (self report only) the
        query records and the subject's `grade` (the one that counts, with its explanation;
        null when none counts). Reads and writes nothing, so it may run after the unit
        committed."""
        obligations = _allowing(decision)
        if kind not in REPORT_KINDS:
            raise ValueError(f"report kind must be one of {REPORT_KINDS}")
        if kind != "self" and (query_records or grade is not None):
            raise ValueError("query records and the grade belong to the self report only")
        document: dict[str, Any] = {
            "report": {
                "id": str(uuid.uuid4()),
                "kind": kind,
                "generated_at": utcnow().isoformat(),
                "as_of": on.isoformat(),
                "catalog_version": self.catalog.version,
                "policy_version": self.policy_version,
                "purpose": obligations.purpose,
                "fee_fen": fee_fen,
            },
            "subject": shaped.subject,
            "sections": {
                **shaped.sections,
                "objections": shaped.objections,
                "statements": shaped.statements,
                "query_records": [entry.as_dict() for entry in query_records],
            },
        }
        if kind == "self":
            document["grade"] = None if grade is None else dict(grade)
        return document

    @staticmethod
    def released_fields(report: Mapping[str, Any]) -> list[str]:
        """The `type.field` names actually present in `report` (for the query log), sorted."""
        return fields_shown(report.get("subject", {}), report["sections"])

    def _records(
        self,
        connection: Connection,
        subject_id: uuid.UUID,
        obligations: Obligations,
        on: date,
        with_keys: bool = False,
    ) -> tuple[OpenedRecord, ...]:
        if not obligations.record_types:
            return ()
        query = _records_query(
            tuple(sorted(obligations.record_types)), obligations.hide_undisplayed, with_keys
        )
        rows = connection.execute(query, {"subject_id": subject_id, "on": on}).all()
        opened: list[OpenedRecord] = []
        for row in rows:
            plain: Sequence[Any] = row
            key = None
            if with_keys:  # (provider, provider record id): what the record's marks name
                key, plain = (row[7], row[8]), row[:7]
            record_id, record_type, category, occurred_on, ended_on, display_until, sealed = plain
            ref = _uuid_text(record_id)
            opened.append(
                OpenedRecord(
                    ref,
                    record_type,
                    category,
                    occurred_on,
                    ended_on,
                    display_until,
                    self.cipher.open_json(
                        Record.context_for(ref, "payload"), Envelope.from_bytes(sealed)
                    ),
                    key,
                )
            )
        return tuple(opened)

    def _record(
        self, record: OpenedRecord, obligations: Obligations, masker: _Masker
    ) -> dict[str, Any]:
        record_type = self.catalog.require(record.record_type)
        payload = record.payload
        fields: dict[str, Any] = {}
        masked: dict[str, str] = {}
        code = record_type.code
        for spec in record_type.fields:
            name = spec.name
            if name not in payload:
                continue
            mask = obligations.mask(code, name)
            if mask is None:
                continue  # not released: withheld entirely
            if mask == "none":  # shown as it is (what `apply_mask` returns for "none")
                fields[name] = payload[name]
            else:
                fields[name] = masker(mask, payload[name], spec.type)
                masked[name] = mask
        return {
            "id": record.id,
            "type": record_type.code,
            "title": record_type.title,
            "title_zh": record_type.title_zh,
            "occurred_on": record.occurred_on.isoformat(),
            "ended_on": _iso(record.ended_on),
            "display_until": _iso(record.display_until),
            "fields": fields,
            "masked": masked,
        }

    def _identity(
        self, identity: Mapping[str, Any], obligations: Obligations, masker: _Masker
    ) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for name, field_type in _IDENTITY_FIELD_TYPES.items():
            mask = obligations.mask(SUBJECT_PSEUDO_TYPE, name)
            if mask is None or name not in identity:
                continue
            shown[name] = masker(mask, identity[name], field_type)
        return shown


def _allowing(decision: Decision) -> Obligations:
    if not decision.allowed or decision.obligations is None:
        raise ValueError("a report is assembled only under an allowing decision")
    return decision.obligations


class _Masker:
    """Applies masks for one report; the `hash` mask's key is drawn once per report (lazily),
    so hashed values match within a report and cannot be linked across reports."""

    def __init__(self, new_key: Callable[[], bytes]) -> None:
        self._new_key = new_key
        self._key: bytes | None = None

    def __call__(self, kind: MaskKind, value: object, field_type: FieldType) -> object:
        if kind == "hash" and self._key is None:
            self._key = self._new_key()
        return apply_mask(kind, value, field_type, hash_key=self._key or b"")


def _uuid_text(stored: str) -> str:
    """A UUID as `str(uuid.UUID)` writes it, from its text in the database: PostgreSQL's
    cast gives that form already, SQLite stores the 32 hex digits without hyphens."""
    if len(stored) == 36:
        return stored
    if len(stored) != 32:
        raise ValueError("a stored record id is a UUID")
    return f"{stored[:8]}-{stored[8:12]}-{stored[12:16]}-{stored[16:20]}-{stored[20:]}"


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def subject_by_id(connection: Connection, subject_id: uuid.UUID | None) -> SubjectRef | None:
    """The subject's id, blind index and sealed identity, or None; opens nothing."""
    if subject_id is None:
        return None
    row = connection.execute(_SUBJECT, {"subject_id": subject_id}).one_or_none()
    if row is None:
        return None
    counted = None
    if row.counted_grade is not None:
        counted = (row.counted_grade, row.counted_score, row.counted_explanation or "{}")
    return SubjectRef(row.id, row.id_bidx, row.identity, row.has_notes, counted)


def query_records_since(on: date) -> datetime:
    """The start of the query-record window shown to a subject: two years before `on`."""
    start = add_months(on, -24)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)
