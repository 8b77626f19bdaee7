"""The public lists (administrative penalties, licensing, dishonest judgment debtors), searchable
by name or ID number although both are sealed.

Guarantees:
- names and ID numbers are found only through HMAC blind indexes (`crypto.blind_index`, key in
  the HSM): `public_list_entries` holds the record id, subject id, record type and the two
  indexes, never a name or a number; a search costs exactly one HMAC;
- only record types of the public disclosure class are indexed, and a search returns only the
  record types the decision releases, and the red and black listings published after review
  and not removed (`app.services.lists.review`), displayed on the day of the search, masked by the
  decision's obligations (ID number as first 6 + last 4 for the public tier);
- ID numbers are validated (check character) before anything is looked up;
- nothing here logs, commits or writes a query-log entry (the search use case does that:
  `app.services.lists.search`).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from app.models import ListPublication, Record, Subject
from app.models.usage import PublicListEntry
from app.services.reports.assembly import ReportService
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.keys import KeyProvider
from policies.catalog import Catalog
from policies.decision import Decision
from policies.identifiers import InvalidIdentifier, parse_citizen_id

_ENTRIES = cast(Table, PublicListEntry.__table__)
_PUBLICATIONS = cast(Table, ListPublication.__table__)
_NAME_JOINERS = "·•・‧﹒."
MAX_NAME_LENGTH = 100


class BadSearch(ValueError):
    """The search terms are malformed; the message is safe to show (it never holds the value)."""


def normalise_person_name(name: str) -> str:
    """NFKC, no whitespace or middle dots, case-folded (`张 三` and `张三` index alike)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in _NAME_JOINERS)


def public_record_types(catalog: Catalog) -> frozenset[str]:
    return frozenset(
        code for code, spec in catalog.record_types.items() if spec.disclosure == "public"
    )


def name_index(provider: KeyProvider, name: str) -> bytes:
    return blind_index(provider, BlindIndexKind.PERSON_NAME, normalise_person_name(name))


def index_rows(
    provider: KeyProvider,
    *,
    subject_id: uuid.UUID,
    id_bidx: bytes,
    name: str,
    records: Iterable[tuple[uuid.UUID, str]],
    public_types: frozenset[str],
) -> list[dict[str, Any]]:
    """Index rows for the subject's public records (one HMAC, none without public records)."""
    public = [(record_id, code) for record_id, code in records if code in public_types]
    if not public:
        return []
    name_bidx = name_index(provider, name)
    return [
        {
            "record_id": record_id,
            "subject_id": subject_id,
            "record_type": code,
            "name_bidx": name_bidx,
            "id_bidx": id_bidx,
        }
        for record_id, code in public
    ]


@dataclass(frozen=True)
class SearchTerms:
    """A validated search: exactly one of name or ID number (normalised)."""

    name: str | None = None
    id_number: str | None = None

    @classmethod
    def parse(cls, body: object, *, today: date) -> SearchTerms:
        if not isinstance(body, Mapping):
            raise BadSearch('Send a JSON object with either "name" or "id_number".')
        name, number = body.get("name"), body.get("id_number")
        if (name is None) == (number is None) or set(body) - {"name", "id_number"}:
            raise BadSearch('Send exactly one of "name" or "id_number", nothing else.')
        if name is not None:
            if not isinstance(name, str) or not normalise_person_name(name):
                raise BadSearch("The name must be a non-empty string.")
            if len(name) > MAX_NAME_LENGTH:
                raise BadSearch(f"The name must be at most {MAX_NAME_LENGTH} characters.")
            return cls(name=name)
        if not isinstance(number, str) or len(number) > 32:
            raise BadSearch("The ID number must be an 18-character string.")
        try:
            return cls(id_number=parse_citizen_id(number).value)
        except InvalidIdentifier as exc:
            raise BadSearch(f"The ID number is not valid: {exc}") from None


@dataclass(frozen=True)
class SearchResult:
    subject_bidx: bytes | None  # the searched ID's blind index (None for a name search)
    entries: list[dict[str, Any]]
    released_fields: list[str]


class PublicListService:
    """Search and (re)build the public-list index."""

    def __init__(self, provider: KeyProvider, reports: ReportService) -> None:
        self.provider = provider
        self.reports = reports

    def searched_subject(self, terms: SearchTerms) -> bytes | None:
        """The blind index of the ID number `terms` search for (one HMAC), None for a name
        search: what the query log records as the subject of the attempt, whether or not
        anyone holds that number (so the log gives no hint either)."""
        if terms.id_number is None:
            return None
        return blind_index(self.provider, BlindIndexKind.CITIZEN_ID, terms.id_number)

    def search(
        self,
        db: Session,
        terms: SearchTerms,
        *,
        decision: Decision,
        on: date,
        id_bidx: bytes | None = None,
    ) -> SearchResult:
        """The displayed public records of the subjects matching `terms` (one HMAC, none when
        the caller already holds the searched number's blind index `id_bidx`)."""
        obligations = decision.obligations
        if not decision.allowed or obligations is None:
            raise ValueError("a search runs only under an allowing decision")
        bidx = id_bidx if id_bidx is not None else self.searched_subject(terms)
        if bidx is not None:
            where = _ENTRIES.c.id_bidx == bidx
            listed_where = _PUBLICATIONS.c.id_bidx == bidx
        else:
            assert terms.name is not None
            name_bidx = name_index(self.provider, terms.name)
            where = _ENTRIES.c.name_bidx == name_bidx
            listed_where = _PUBLICATIONS.c.name_bidx == name_bidx
        subject_ids = set(
            db.scalars(
                select(_ENTRIES.c.subject_id)
                .where(where, _ENTRIES.c.record_type.in_(sorted(obligations.record_types)))
                .distinct()
            )
        )
        listings: dict[uuid.UUID, list[dict[str, str]]] = {}
        for subject_id, code, listed in db.execute(
            select(
                _PUBLICATIONS.c.subject_id, _PUBLICATIONS.c.list, _PUBLICATIONS.c.listed_on
            ).where(listed_where, _PUBLICATIONS.c.removed_at.is_(None))
        ):
            listings.setdefault(subject_id, []).append(
                {"list": code, "listed_on": listed.isoformat()}
            )
        entries: list[dict[str, Any]] = []
        released: set[str] = set()
        for subject in _subjects(db, sorted(subject_ids | set(listings))):
            report = self.reports.assemble(
                db, subject=subject, decision=decision, kind="public", on=on
            )
            records = [r for section in _RECORD_SECTIONS for r in report["sections"][section]]
            shown = sorted(listings.get(subject.id, []), key=lambda item: item["list"])
            if not records and not shown:
                continue
            entries.append({"subject": report["subject"], "records": records, "listings": shown})
            released.update(self.reports.released_fields(report))
        return SearchResult(bidx, entries, sorted(released))

    def rebuild(self, db: Session, catalog: Catalog) -> int:
        """Rebuild the whole index from the sealed identities (for databases loaded before
        the index existed); returns the number of entries. One HMAC per listed subject."""
        public_types = public_record_types(catalog)
        db.execute(delete(_ENTRIES))
        rows: list[dict[str, Any]] = []
        listed: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        for record_id, subject_id, code in db.execute(
            select(Record.id, Record.subject_id, Record.record_type).where(
                Record.record_type.in_(sorted(public_types)), Record.status == "current"
            )
        ):
            listed.setdefault(subject_id, []).append((record_id, code))
        for subject in _subjects(db, list(listed)):
            identity = subject.unseal("identity", self.reports.cipher)
            rows += index_rows(
                self.provider,
                subject_id=subject.id,
                id_bidx=subject.id_bidx,
                name=identity["name"],
                records=listed[subject.id],
                public_types=public_types,
            )
        if rows:
            db.execute(insert(_ENTRIES), rows)
        return len(rows)


_RECORD_SECTIONS = ("identity", "financial", "social", "special")


def _subjects(db: Session, ids: Sequence[uuid.UUID]) -> Sequence[Subject]:
    if not ids:
        return ()
    return db.scalars(select(Subject).where(Subject.id.in_(ids)).order_by(Subject.id)).all()
