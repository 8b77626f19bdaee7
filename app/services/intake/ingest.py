"""Intake of subjects and their records, in batches, sealed on the way in.

Guarantees:
- every ID number and credit code is validated, and every payload checked against the catalog,
  before anything is written; one bad subject rejects its whole batch with an error naming the
  subject's position and the part or field that is wrong, never the value;
- personal data reaches the database only sealed (one AEAD per record payload, one per subject
  identity) and the ID number only as its HMAC blind index;
- a subject already present (same blind index) is skipped, so re-running an intake is harmless;
- display and destruction dates are computed from the catalog's retention rules, and each
  record is sealed under the data key of its expiry epoch, so it can be crypto-shredded; a
  record already past its destruction date is not stored (it is counted as expired);
- records of the public disclosure class are indexed for the public-list search by the HMAC
  blind indexes of the subject's normalised name and ID number (one extra HMAC per subject
  with public records, none otherwise); a record may carry `repaired_on` (credit repair), which
  may end a penalty's display early, never before the rule's minimum;
- nothing here commits: the caller's transaction decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from app.models import DataProvider, PublicListEntry, Record, Subject
from app.models.ids import uuid7
from app.services.keys.lifecycle import KeyService, wrapping_label_for
from app.services.lists.public_lists import index_rows, public_record_types
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.fields import canonical_json
from crypto.keys import WrappingKey
from policies.catalog import Catalog
from policies.identifiers import InvalidIdentifier, parse_credit_code, parse_living_citizen_id
from policies.payload import PayloadError, validate_payload
from policies.retention import retention_dates

_SUBJECTS = cast(Table, Subject.__table__)
_RECORDS = cast(Table, Record.__table__)
_LIST_ENTRIES = cast(Table, PublicListEntry.__table__)


class RecordIntake(Protocol):
    @property
    def record_type(self) -> str: ...
    @property
    def provider_credit_code(self) -> str: ...
    @property
    def occurred_on(self) -> date: ...
    @property
    def ended_on(self) -> date | None: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


class SubjectIntake(Protocol):
    @property
    def id_number(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def written_consent(self) -> bool:
        """Recorded written consent to collect consent-bound fields (income, deposits...)."""
        ...

    @property
    def records(self) -> Sequence[RecordIntake]: ...


class ProviderIntake(Protocol):
    @property
    def credit_code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...


class IntakeError(ValueError):
    """A batch was refused; the message names the position and the part, never the value."""


@dataclass
class IntakeResult:
    subjects_added: int = 0
    subjects_skipped: int = 0
    records_added: int = 0
    records_expired: int = 0


@dataclass
class IngestService:
    keys: KeyService
    catalog: Catalog
    today: date = field(default_factory=date.today)

    def __post_init__(self) -> None:
        self.keys.today = lambda: self.today

    def register_providers(self, session: Session, providers: Iterable[ProviderIntake]) -> int:
        """Add data providers not yet known (by credit code); returns how many were added."""
        known = set(session.scalars(select(DataProvider.credit_code)))
        added = 0
        for position, provider in enumerate(providers):
            try:
                code = parse_credit_code(provider.credit_code).value
            except InvalidIdentifier as exc:
                raise IntakeError(f"provider #{position}: credit code: {exc}") from None
            if code in known:
                continue
            session.add(DataProvider(credit_code=code, name=provider.name, kind=provider.kind))
            known.add(code)
            added += 1
        session.flush()
        return added

    def ingest(self, session: Session, batch: Sequence[SubjectIntake]) -> IntakeResult:
        """Validate, seal and insert one batch of subjects with their records."""
        prepared = [self._validate(position, subject) for position, subject in enumerate(batch)]
        indexes = [
            blind_index(self.keys.provider, BlindIndexKind.CITIZEN_ID, normalised)
            for normalised, _, _ in prepared
        ]
        existing = set(session.scalars(select(Subject.id_bidx).where(Subject.id_bidx.in_(indexes))))
        provider_ids: dict[str, uuid.UUID] = {
            code: provider_id
            for code, provider_id in session.execute(
                select(DataProvider.credit_code, DataProvider.id)
            )
        }
        key_ids: dict[str, int] = {}
        cipher = self.keys.cipher
        result = IntakeResult()
        subject_rows: list[dict[str, Any]] = []
        record_rows: list[dict[str, Any]] = []
        list_rows: list[dict[str, Any]] = []
        public_types = public_record_types(self.catalog)
        seen: set[bytes] = set()
        for position, ((normalised, subject, payloads), bidx) in enumerate(
            zip(prepared, indexes, strict=True)
        ):
            if bidx in existing or bidx in seen:
                result.subjects_skipped += 1
                continue
            seen.add(bidx)
            subject_id = uuid7()
            master = self._key_id(session, key_ids, WrappingKey.MASTER.value)
            identity = {"id_number": normalised, "name": subject.name}
            subject_rows.append(
                {
                    "id": subject_id,
                    "id_bidx": bidx,
                    "data_key_id": master,
                    "identity": cipher.seal(
                        Subject.context_for(subject_id, "identity"),
                        canonical_json(identity),
                        master,
                    ),
                }
            )
            added: list[tuple[uuid.UUID, str]] = []
            for index, (record, payload) in enumerate(zip(subject.records, payloads, strict=True)):
                row = self._record_row(
                    session, key_ids, provider_ids, subject_id, (position, index), record, payload
                )
                if row is None:
                    result.records_expired += 1
                else:
                    record_rows.append(row)
                    added.append((row["id"], row["record_type"]))
            list_rows += index_rows(
                self.keys.provider,
                subject_id=subject_id,
                id_bidx=bidx,
                name=subject.name,
                records=added,
                public_types=public_types,
            )
        # Core inserts on the tables: one executemany per batch. (ORM bulk insert would split a
        # batch into many small groups wherever optional dates are None.) The sealed column
        # type still applies: it binds Envelopes only.
        if subject_rows:
            session.execute(insert(_SUBJECTS), subject_rows)
        if record_rows:
            session.execute(insert(_RECORDS), record_rows)
        if list_rows:
            session.execute(insert(_LIST_ENTRIES), list_rows)
        result.subjects_added = len(subject_rows)
        result.records_added = len(record_rows)
        return result

    def _validate(
        self, position: int, subject: SubjectIntake
    ) -> tuple[str, SubjectIntake, list[dict[str, object]]]:
        try:
            normalised = parse_living_citizen_id(subject.id_number, today=self.today).value
        except InvalidIdentifier as exc:
            raise IntakeError(f"subject #{position}: ID number: {exc}") from None
        if not subject.name or len(subject.name) > 100:
            raise IntakeError(f"subject #{position}: name is empty or longer than 100 characters")
        payloads: list[dict[str, object]] = []
        for index, record in enumerate(subject.records):
            record_type = self.catalog.record_types.get(record.record_type)
            if record_type is None:
                raise IntakeError(
                    f"subject #{position} record #{index}: unknown record type "
                    f"{record.record_type!r}"
                )
            try:
                payloads.append(
                    validate_payload(
                        record_type,
                        record.payload,
                        consent_recorded=subject.written_consent,
                        today=self.today,
                    )
                )
            except PayloadError as exc:
                raise IntakeError(f"subject #{position} record #{index}: {exc}") from None
        return normalised, subject, payloads

    def _record_row(
        self,
        session: Session,
        key_ids: dict[str, int],
        provider_ids: Mapping[str, uuid.UUID],
        subject_id: uuid.UUID,
        where: tuple[int, int],
        record: RecordIntake,
        payload: dict[str, object],
    ) -> dict[str, Any] | None:
        record_type = self.catalog.record_types[record.record_type]
        provider_id = provider_ids.get(record.provider_credit_code)
        if provider_id is None:
            raise IntakeError(f"subject #{where[0]} record #{where[1]}: unknown data provider")
        repaired_on: date | None = getattr(record, "repaired_on", None)
        try:
            display_until, destroy_after = retention_dates(
                record_type.retention, record.occurred_on, record.ended_on, repaired_on
            )
        except ValueError as exc:
            raise IntakeError(f"subject #{where[0]} record #{where[1]}: {exc}") from None
        if destroy_after is not None and destroy_after < self.today:
            return None
        key_id = self._key_id(session, key_ids, wrapping_label_for(destroy_after))
        record_id = uuid7()
        return {
            "id": record_id,
            "subject_id": subject_id,
            "provider_id": provider_id,
            "record_type": record_type.code,
            "category": record_type.category,
            "disclosure": record_type.disclosure,
            "is_negative": record_type.negative,
            "occurred_on": record.occurred_on,
            "ended_on": record.ended_on,
            "display_until": display_until,
            "destroy_after": destroy_after,
            "catalog_version": self.catalog.version,
            "data_key_id": key_id,
            "dek_generation": 1,
            "provider_record_id": str(record_id),
            "version": 1,
            "status": "current",
            "received_on": self.today,
            "payload": self.keys.cipher.seal(
                Record.context_for(record_id, "payload"), canonical_json(payload), key_id
            ),
        }

    def _key_id(self, session: Session, cache: dict[str, int], label: str) -> int:
        key_id = cache.get(label)
        if key_id is None:
            key_id = self.keys.active_key_id(session, label)
            cache[label] = key_id
        return key_id
