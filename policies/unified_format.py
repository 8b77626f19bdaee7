"""The unified intake format: one row of a batch (a JSON Lines line or a CSV record) checked
against the format, the catalog and the rules of law, into a line a service can store or a
`RowError` naming the row, the field and the rule.

A row is one JSON object; `op` says what it does:
- `add` / `correct`: `provider` (unified social credit code), `record_id` (the provider's own
  id), `type` (a catalog code), `subject` {`id_number`, `name`}, `occurred_on`, optional
  `ended_on` and `repaired_on`, `fields` (the catalog fields of the type), `notice`
  {`notified_on`, `channel`} (required for types that require prior notice), `consent_ref`
  (required when a consent-bound field is present); a correction also gives a `reason`;
- `withdraw`: `provider`, `record_id`, `reason`;
- `consent`: `provider`, `consent_ref`, `subject`, `signed_on`, `concepts` (what the subject's
  written consent covers: income, deposit, securities, insurance, real_estate, tax_amount).

Guarantees: a row is either refused with exactly one `RowError` (the first problem found, in
the order: shape, operation, keys, identifiers, type, dates, fields, law) or returned whole and
normalised (identifiers normalised, payload through `policies.payload.validate_payload`). An
error's message and field never contain a value from the row: a field is named only if its
name is snake_case, messages are fixed texts or the validators' own value-free texts.
Prohibited concepts (Art. 14) are refused wherever they appear as a key, declared or not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from policies.catalog_model import Catalog, RecordType
from policies.collection_rules import CONSENT_CONCEPTS, prohibited_concept
from policies.identifiers import InvalidIdentifier, parse_living_citizen_id
from policies.intake_rules import IntakeRules
from policies.payload import PayloadError, normalised_credit_code, validate_payload
from policies.retention import retention_dates

OPS = ("add", "correct", "withdraw", "consent")
MAX_NAME_LENGTH = 100
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,47}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RECORD_KEYS = {
    "required": ("op", "provider", "record_id", "type", "subject", "occurred_on", "fields"),
    "optional": ("ended_on", "repaired_on", "notice", "consent_ref"),
}
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "add": (_RECORD_KEYS["required"], _RECORD_KEYS["optional"]),
    "correct": ((*_RECORD_KEYS["required"], "reason"), _RECORD_KEYS["optional"]),
    "withdraw": (("op", "provider", "record_id", "reason"), ()),
    "consent": (("op", "provider", "consent_ref", "subject", "signed_on", "concepts"), ()),
}


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row was refused: its 1-based row number, the field (None: the whole row), the
    rule id (`policies.intake_rules`) and a message that never holds a value."""

    row: int
    field: str | None
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class Person:
    id_number: str  # normalised
    name: str


@dataclass(frozen=True, slots=True)
class RecordLine:
    row: int
    op: str  # add | correct
    provider: str
    record_id: str
    record_type: RecordType
    subject: Person
    occurred_on: date
    ended_on: date | None
    repaired_on: date | None
    payload: dict[str, object]
    notice: tuple[date, str] | None
    consent_ref: str | None
    consent_concepts: frozenset[str]  # concepts of the consent-bound fields present
    reason: str | None
    display_until: date | None
    destroy_after: date | None


@dataclass(frozen=True, slots=True)
class WithdrawLine:
    row: int
    provider: str
    record_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConsentLine:
    row: int
    provider: str
    consent_ref: str
    subject: Person
    signed_on: date
    concepts: frozenset[str]


Line = RecordLine | WithdrawLine | ConsentLine


class _Refused(Exception):
    def __init__(self, field: str | None, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message


def _safe_key(key: object) -> str | None:
    return key if isinstance(key, str) and _KEY.fullmatch(key) else None


def _date(value: object, field: str, *, required: bool) -> date | None:
    if value is None:
        if required:
            raise _Refused(field, "format.missing", "is required")
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise _Refused(field, "format.bad_value", "expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Refused(field, "format.bad_value", "is not a real calendar date") from None


def _identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise _Refused(
            field, "format.bad_value", "1-64 characters of letters, digits and . _ : / -"
        )
    return value


def _person(value: object, today: date, memo: dict[str, str] | None) -> Person:
    if not isinstance(value, Mapping) or set(value) - {"id_number", "name"}:
        raise _Refused("subject", "format.bad_value", 'an object of "id_number" and "name"')
    number, name = value.get("id_number"), value.get("name")
    if not isinstance(number, str):
        raise _Refused("subject.id_number", "format.missing", "is required (a string)")
    normalised = None if memo is None else memo.get(number)
    if normalised is None:
        try:
            normalised = parse_living_citizen_id(number, today=today).value
        except InvalidIdentifier as exc:
            raise _Refused("subject.id_number", "identifier.citizen_id", str(exc)) from None
        if memo is not None:
            memo[number] = normalised
    if not isinstance(name, str):
        raise _Refused("subject.name", "format.missing", "is required (a string)")
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME_LENGTH or not clean.isprintable():
        raise _Refused("subject.name", "format.bad_value", "1-100 printable characters")
    return Person(normalised, clean)


def _check_keys(value: Mapping[str, Any], op: str) -> None:
    required, optional = _KEYS[op]
    for key in value:
        if key in required or key in optional:
            continue
        label = _safe_key(key)
        if isinstance(key, str) and prohibited_concept(key) is not None:
            raise _Refused(label, "law.prohibited_collection", "collecting this is prohibited")
        raise _Refused(label, "format.unknown_key", f"is not a key of a {op!r} row")
    for key in required:
        if value.get(key) is None:
            raise _Refused(key, "format.missing", "is required")


def check_row(
    row: int,
    value: object,
    *,
    catalog: Catalog,
    rules: IntakeRules,
    today: date,
    memo: dict[str, str] | None = None,
) -> Line | RowError:
    """The checked line for one parsed row, or the first `RowError` (module guarantees).

    `memo` (optional, the caller's, for one chunk of rows: then dropped) remembers the ID
    numbers already found valid, so a subject's rows check their number once."""
    try:
        return _check(row, value, catalog, rules, today, memo)
    except _Refused as refused:
        return RowError(row, refused.field, refused.rule, refused.message)


def _check(
    row: int,
    value: object,
    catalog: Catalog,
    rules: IntakeRules,
    today: date,
    memo: dict[str, str] | None,
) -> Line:
    if not isinstance(value, Mapping):
        raise _Refused(None, "format.malformed_line", "a row is one JSON object")
    op = value.get("op")
    if op is None:
        raise _Refused("op", "format.missing", "is required")
    if op not in OPS:
        raise _Refused("op", "format.unknown_op", f"is one of {', '.join(OPS)}")
    _check_keys(value, op)
    provider = value["provider"]
    if not isinstance(provider, str):
        raise _Refused("provider", "format.bad_value", "a unified social credit code (text)")
    try:
        provider = normalised_credit_code(provider)
    except InvalidIdentifier as exc:
        raise _Refused("provider", "identifier.credit_code", str(exc)) from None
    if op == "withdraw":
        reason = value["reason"]
        if reason not in rules.withdrawal_reasons:
            raise _Refused("reason", "format.bad_value", "is not a declared withdrawal reason")
        return WithdrawLine(row, provider, _identifier(value["record_id"], "record_id"), reason)
    if op == "consent":
        return _consent(row, value, provider, today, memo)
    return _record(row, value, op, provider, catalog, rules, today, memo)


def _consent(
    row: int, value: Mapping[str, Any], provider: str, today: date, memo: dict[str, str] | None
) -> ConsentLine:
    ref = _identifier(value["consent_ref"], "consent_ref")
    person = _person(value["subject"], today, memo)
    signed_on = _date(value["signed_on"], "signed_on", required=True)
    assert signed_on is not None
    if signed_on > today:
        raise _Refused("signed_on", "retention.dates", "is in the future")
    concepts = value["concepts"]
    if (
        not isinstance(concepts, list)
        or not concepts
        or not all(isinstance(c, str) and c in CONSENT_CONCEPTS for c in concepts)
    ):
        raise _Refused(
            "concepts", "format.bad_value", f"a list of: {', '.join(sorted(CONSENT_CONCEPTS))}"
        )
    return ConsentLine(row, provider, ref, person, signed_on, frozenset(concepts))


def _record(
    row: int,
    value: Mapping[str, Any],
    op: str,
    provider: str,
    catalog: Catalog,
    rules: IntakeRules,
    today: date,
    memo: dict[str, str] | None,
) -> RecordLine:
    record_id = _identifier(value["record_id"], "record_id")
    code = value["type"]
    record_type = catalog.get(code) if isinstance(code, str) else None
    if record_type is None:
        raise _Refused("type", "catalog.unknown_type", "is not a record type of the catalog")
    person = _person(value["subject"], today, memo)
    occurred_on = _date(value["occurred_on"], "occurred_on", required=True)
    assert occurred_on is not None
    ended_on = _date(value.get("ended_on"), "ended_on", required=False)
    repaired_on = _date(value.get("repaired_on"), "repaired_on", required=False)
    if occurred_on > today:
        raise _Refused("occurred_on", "retention.dates", "is in the future")
    try:
        display_until, destroy_after = retention_dates(
            record_type.retention, occurred_on, ended_on, repaired_on
        )
    except ValueError as exc:
        field = "ended_on" if ended_on is not None and ended_on < occurred_on else "repaired_on"
        raise _Refused(field, "retention.dates", str(exc)) from None
    fields = value["fields"]
    if not isinstance(fields, Mapping):
        raise _Refused("fields", "format.bad_value", "an object of the record type's fields")
    consent_ref = value.get("consent_ref")
    if consent_ref is not None:
        consent_ref = _identifier(consent_ref, "consent_ref")
    payload, concepts = _payload(record_type, fields, consent_ref, today)
    notice = _notice(record_type, value.get("notice"), rules, today)
    reason = value.get("reason")
    if op == "correct" and reason not in rules.correction_reasons:
        raise _Refused("reason", "format.bad_value", "is not a declared correction reason")
    return RecordLine(
        row=row,
        op=op,
        provider=provider,
        record_id=record_id,
        record_type=record_type,
        subject=person,
        occurred_on=occurred_on,
        ended_on=ended_on,
        repaired_on=repaired_on,
        payload=payload,
        notice=notice,
        consent_ref=consent_ref,
        consent_concepts=concepts,
        reason=reason if op == "correct" else None,
        display_until=display_until,
        destroy_after=destroy_after,
    )


def _payload(
    record_type: RecordType, fields: Mapping[str, Any], consent_ref: str | None, today: date
) -> tuple[dict[str, object], frozenset[str]]:
    for key in fields:
        if isinstance(key, str) and record_type.has_field(key):
            continue
        label = _safe_key(key)
        where = None if label is None else f"fields.{label}"
        if isinstance(key, str) and prohibited_concept(key) is not None:
            raise _Refused(where, "law.prohibited_collection", "collecting this is prohibited")
        raise _Refused(where, "catalog.undeclared_field", "is not declared for this type")
    concepts: set[str] = set()
    for spec in record_type.fields:
        if spec.consent_required and fields.get(spec.name) is not None:
            if consent_ref is None:
                raise _Refused(
                    f"fields.{spec.name}",
                    "law.consent_required",
                    "needs consent_ref: the subject's written consent on record",
                )
            concepts.add(spec.concept or spec.name)
    try:
        payload = validate_payload(record_type, fields, consent_recorded=True, today=today)
    except PayloadError as exc:
        where = None if exc.field is None else f"fields.{exc.field}"
        raise _Refused(where, "catalog.field", exc.reason) from None
    return payload, frozenset(concepts)


def _notice(
    record_type: RecordType, value: object, rules: IntakeRules, today: date
) -> tuple[date, str] | None:
    if value is None:
        if record_type.requires_notice:
            raise _Refused(
                "notice",
                "law.prior_notice",
                "a negative record needs the day and channel the subject was told",
            )
        return None
    if not isinstance(value, Mapping) or set(value) != {"notified_on", "channel"}:
        raise _Refused("notice", "law.prior_notice", 'an object of "notified_on" and "channel"')
    try:
        notified_on = _date(value["notified_on"], "notice.notified_on", required=True)
    except _Refused as bad:
        raise _Refused(bad.field, "law.prior_notice", bad.message) from None
    assert notified_on is not None
    if notified_on > today:
        raise _Refused(
            "notice.notified_on", "law.prior_notice", "the subject must be told beforehand"
        )
    channel = value["channel"]
    if channel not in rules.notice_channels:
        raise _Refused("notice.channel", "law.prior_notice", "is not a declared notice channel")
    return notified_on, channel


# --- CSV: the same rows as spreadsheet columns ---------------------------------------------------

_TOP_COLUMNS = frozenset(
    {
        "op",
        "provider",
        "record_id",
        "type",
        "occurred_on",
        "ended_on",
        "repaired_on",
        "consent_ref",
        "reason",
        "signed_on",
    }
)
_TRUE, _FALSE = frozenset({"true", "1", "yes", "是"}), frozenset({"false", "0", "no", "否"})
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def csv_row(header: Sequence[str], cells: Sequence[str], catalog: Catalog) -> dict[str, Any] | None:
    """The JSON object a CSV record stands for, or None if it has the wrong number of cells.

    Columns: the top-level keys above, `id_number` and `name` (the subject), `notified_on` and
    `notice_channel` (the notice), `concepts` (separated by `;`), and `fields.<name>` for each
    field. An empty cell is an absent value; integers, amounts and booleans are converted by
    the field's catalog type (a cell that does not convert stays text and is refused by the
    field check). An unknown column becomes a top-level key (refused as an unknown key).
    """
    if len(cells) != len(header):
        return None
    values = {name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}
    record_type = catalog.get(values.get("type", ""))
    result: dict[str, Any] = {}
    subject: dict[str, str] = {}
    notice: dict[str, str] = {}
    fields: dict[str, Any] = {}
    for column, cell in values.items():
        if column in _TOP_COLUMNS:
            result[column] = cell
        elif column in ("id_number", "name"):
            subject[column] = cell
        elif column == "notified_on":
            notice["notified_on"] = cell
        elif column == "notice_channel":
            notice["channel"] = cell
        elif column == "concepts":
            result["concepts"] = [c.strip() for c in cell.split(";") if c.strip()]
        elif column.startswith("fields."):
            name = column.removeprefix("fields.")
            fields[name] = _cell(record_type, name, cell)
        else:
            result[column] = cell
    if subject:
        result["subject"] = subject
    if notice:
        result["notice"] = notice
    if fields or result.get("op") in ("add", "correct"):
        result["fields"] = fields
    return result


def _cell(record_type: RecordType | None, name: str, cell: str) -> object:
    if record_type is None or not record_type.has_field(name):
        return cell
    kind = record_type.field(name).type
    text = cell.strip()
    if kind in ("integer", "money_fen") and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "boolean" and text.casefold() in _TRUE | _FALSE:
        return text.casefold() in _TRUE
    return cell
