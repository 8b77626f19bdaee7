"""A report document (the JSON the service released, unchanged) as the report page shows it,
in the PBOC order of the signed PDF (`app.services.reports.pdf.layout`).

Order: the report header, 一 信息概要 (how many entries each section holds), 二 身份信息,
三 金融信贷信息, 四 社会公共信息, 五 特别记录, 六 异议标注, 七 本人声明 and, in the self report
only, 八 查询记录. Every field shows as released (a masked value masked and said to be, a
withheld field absent); labels come from the catalog in the page's language. Pure: it reads
nothing but the document, the catalog and the purposes' titles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from flask_babel import lazy_gettext as _l

from app.services.reports.pdf.layout import CITY_TIME, NUMERALS, RECORD_SECTIONS


class Purpose(Protocol):
    """A purpose's titles (the policy's `Purpose`)."""

    @property
    def title(self) -> str: ...

    @property
    def title_zh(self) -> str: ...


SUBJECT_LABELS = {"name": _l("Name"), "id_number": _l("ID number")}
MASKS = {
    "redact": _l("withheld"),
    "first6_last4": _l("partly masked"),
    "last4": _l("partly masked"),
    "year_only": _l("year only"),
    "hash": _l("replaced by a hash"),
}
ACTIONS = {
    "self:report:read": _l("Own credit report"),
    "self:query_log:read": _l("Own query records"),
    "public:list:search": _l("Public-list search"),
    "archive:order:create": _l("Archive order"),
    "archive:report:read": _l("Archive report"),
    "institution:report:query": _l("Institution's credit report query"),
}
REQUESTERS = {
    "you": _l("You"),
    "individual": _l("An individual"),
    "institution": _l("An institution"),
}
QUERY_RECORDS = _l("Query records")
KINDS = {"self": _l("Personal credit report (own copy)"), "archive": _l("Archive credit report")}


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Record:
    number: int
    title: str
    rows: list[Row]


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    records: list[Record] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)  # the identity section's subject block
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportView:
    kind: str
    title: str
    header: list[Row]
    summary: list[tuple[str, str, int]]  # (anchor, label, entries)
    sections: list[Section]
    query_records: list[list[str]] | None  # None: not a self report


def city_time(moment: str) -> str:
    """An ISO time as the page shows it: Beijing time to the second."""
    try:
        return datetime.fromisoformat(moment).astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return moment


def _grade(grade: Any, locale: str) -> str:
    """The own report's grade line: the grade, its title and its score (the page /grade and
    the API give every factor)."""
    if not isinstance(grade, Mapping):
        return str(_l("None counts yet"))
    title = grade.get("title_zh") if locale == "zh" else grade.get("title")
    return f"{grade.get('grade')} {title} · {grade.get('score')}/100"


def money(fen: int, locale: str) -> str:
    return f"{fen / 100:,.2f} 元" if locale == "zh" else f"CNY {fen / 100:,.2f}"


def _value(value: Any, field_type: str | None, locale: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_l("Yes") if value else _l("No"))
    if field_type == "money_fen" and isinstance(value, int):
        return money(value, locale)
    return str(value)


class ReportPresenter:
    def __init__(self, catalog: Any, purposes: Mapping[str, Purpose]) -> None:
        self.catalog = catalog  # the catalog (`policies.catalog.Catalog`): record types
        self.purposes = purposes

    def view(self, document: Mapping[str, Any], locale: str) -> ReportView:
        header, sections = document["report"], document["sections"]
        kind = str(header["kind"])
        fee = int(header.get("fee_fen") or 0)
        rows = [
            Row(str(_l("Report id")), str(header["id"])),
            Row(
                str(_l("Generated")),
                city_time(str(header["generated_at"])),
                str(_l("Beijing time")),
            ),
            Row(str(_l("Information as of")), str(header["as_of"])),
            Row(str(_l("Fee")), money(fee, locale) if fee else str(_l("Free"))),
        ]
        if kind == "self":
            rows.append(Row(str(_l("Credit grade")), _grade(document.get("grade"), locale)))
        numerals = iter(NUMERALS)
        next(numerals)  # 一 is the summary
        shown: list[Section] = []
        for key, zh, en in RECORD_SECTIONS:
            subject = (document.get("subject") or {}) if key == "identity" else {}
            shown.append(
                Section(
                    key,
                    f"{next(numerals)}、{zh if locale == 'zh' else en}",
                    records=self._records(sections.get(key) or [], locale),
                    rows=[
                        Row(str(SUBJECT_LABELS.get(k, k)), _value(v, None, locale))
                        for k, v in subject.items()
                    ],
                )
            )
        for key, title in (("objections", _l("Objection marks")), ("statements", _l("Statements"))):
            shown.append(
                Section(key, f"{next(numerals)}、{title}", notes=_notes(sections.get(key) or []))
            )
        records = None
        if kind == "self":
            records = self._query_records(sections.get("query_records") or [], locale)
            shown.append(Section("query_records", f"{next(numerals)}、{QUERY_RECORDS}"))
        summary = [(s.key, s.heading.split("、", 1)[1], _count(s, sections)) for s in shown]
        return ReportView(kind, str(KINDS.get(kind, kind)), rows, summary, shown, records)

    def _records(self, records: Sequence[Mapping[str, Any]], locale: str) -> list[Record]:
        shown = []
        for number, record in enumerate(records, start=1):
            record_type = self.catalog.record_types.get(str(record["type"]))
            zh, en = record.get("title_zh") or "", record.get("title") or ""
            rows = [Row(str(_l("Occurred")), str(record["occurred_on"]))]
            if record.get("ended_on"):
                rows.append(Row(str(_l("Ended")), str(record["ended_on"])))
            if record.get("display_until"):
                rows.append(Row(str(_l("Shown until")), str(record["display_until"])))
            masked: Mapping[str, str] = record.get("masked") or {}
            for name, value in (record.get("fields") or {}).items():
                spec = (
                    record_type.field(name)
                    if record_type is not None and record_type.has_field(name)
                    else None
                )
                label = name
                if spec is not None:
                    label = (spec.title_zh or spec.title) if locale == "zh" else spec.title
                    if spec.type == "money_fen":
                        label = label.replace("(分)", "").replace("（分）", "")
                        label = label.replace(" (fen)", "").replace("(fen)", "")
                note = str(MASKS.get(masked[name], _l("masked"))) if name in masked else ""
                rows.append(Row(label, _value(value, spec.type if spec else None, locale), note))
            rows.append(Row(str(_l("Record id")), str(record["id"])))
            shown.append(Record(number, (zh or en) if locale == "zh" else (en or zh), rows))
        return shown

    def _query_records(self, entries: Sequence[Mapping[str, Any]], locale: str) -> list[list[str]]:
        rows = []
        for entry in entries:
            requester = str(entry.get("requester") or "")
            action = str(entry.get("action") or "")
            purpose = entry.get("purpose")
            rows.append(
                [
                    city_time(str(entry.get("at") or "")),
                    str(REQUESTERS.get(requester, requester)),
                    str(ACTIONS.get(action, action)),
                    "—" if not purpose else self._purpose(str(purpose), locale),
                ]
            )
        return rows

    def records(self, records: Sequence[Mapping[str, Any]], locale: str) -> list[Record]:
        """Records as a report section shows them (also a public-list search's)."""
        return self._records(records, locale)

    def query_records(self, entries: Sequence[Mapping[str, Any]], locale: str) -> list[list[str]]:
        """The rows of a page of query records (`self:query_log:read`)."""
        return self._query_records(entries, locale)

    def _purpose(self, code: str, locale: str) -> str:
        found = self.purposes.get(code)
        if found is None:
            return code
        return found.title_zh if locale == "zh" else found.title


def _notes(notes: Sequence[Any]) -> list[str]:
    shown = []
    for note in notes:
        text = note.get("text") if isinstance(note, Mapping) else None
        shown.append(str(text if text is not None else note))
    return shown


def _count(section: Section, sections: Mapping[str, Sequence[Any]]) -> int:
    return len(sections.get(section.key) or [])
