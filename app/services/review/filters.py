"""What an officer may search the query log by, read from a request or a command line.

Guarantees:
- `parse_search` accepts only the filters below, each checked against its own shape (the
  closed lists of actor kinds, tiers, actions and decisions; snake_case reasons and purposes;
  the consent id's and request id's alphabets; ISO dates or times); anything else is a
  `BadFilter` whose message names the filter, never the value sent;
- the subject is searched by blind index only: an ID number (`subject`) is validated and
  turned into its blind index by the `index` function handed in (one HSM call) and then
  forgotten: it is in no field of `SearchFilters`, so it cannot reach the log entry of the
  search, an answer, a page or a next-page link (those carry `subject_bidx`, the hex index);
- pages are keyset pages over `seq`, newest first: `cursor` is a position handed out as
  `next_cursor`, `limit` 1..`PAGE_MAX`. Nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import SERVICE_TIME_ZONE
from policies.actions import Action
from policies.identifiers import InvalidIdentifier, parse_citizen_id

PAGE_DEFAULT, PAGE_MAX = 50, 200
NO_SEQ_BOUND = 2**62
ACTOR_KINDS = ("subject", "staff", "institution", "payment_provider", "anonymous", "operator")
DECISIONS = ("allowed", "denied", "failed")
TIERS = tuple(sorted({action.tier for action in Action}))
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_JTI = re.compile(r"[A-Za-z0-9_-]{1,128}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_ACTOR = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_BIDX = re.compile(r"[0-9a-f]{64}")
_ZONE = ZoneInfo(SERVICE_TIME_ZONE)
#: The names a search may send (`subject` is the typed ID number, never kept).
NAMES = (
    "from",
    "to",
    "actor_kind",
    "actor",
    "tier",
    "action",
    "decision",
    "reason",
    "purpose",
    "consent_id",
    "request_id",
    "subject",
    "subject_bidx",
    "limit",
    "cursor",
)
#: What a page hands on when an ID number came in a link's query string (refused, not read).
SUBJECT_IN_LINK = "subject_in_link"


class BadFilter(ValueError):
    """A filter is malformed (the message names the filter, never what was sent); `code` is
    what the search's log entry records as its reason."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SearchFilters:
    """A parsed search: every field optional but the page. No ID number is ever held here."""

    since: datetime | None = None
    until: datetime | None = None  # exclusive
    actor_kind: str | None = None
    actor: str | None = None
    tier: str | None = None
    action: str | None = None
    decision: str | None = None
    reason: str | None = None
    purpose: str | None = None
    consent_id: str | None = None
    request_id: str | None = None
    subject_bidx: bytes | None = None
    limit: int = PAGE_DEFAULT
    before_seq: int | None = None

    def echo(self) -> dict[str, Any]:
        """The filters as the answer repeats them (and a next-page link sends them back):
        times in ISO 8601 UTC, the subject as its hex blind index, absent ones left out."""
        shown: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or item.name in {"limit", "before_seq"}:
                continue
            if isinstance(value, datetime):
                value = value.astimezone(UTC).isoformat()
            elif isinstance(value, bytes):
                value = value.hex()
            shown[{"since": "from", "until": "to"}.get(item.name, item.name)] = value
        shown["limit"] = self.limit
        return shown


def parse_search(sent: Mapping[str, Any], index: Callable[[str], bytes]) -> SearchFilters:
    """The search `sent` asks for; `index(normalised ID number)` computes a blind index.
    Empty strings count as absent (a form sends every field)."""
    given = {key: value for key, value in sent.items() if value not in (None, "")}
    if SUBJECT_IN_LINK in given:
        raise BadFilter("subject: type the ID number into the form; it never goes in a link.")
    unknown = set(given) - set(NAMES)
    if unknown:
        raise BadFilter(f"Unknown filter; filters are {', '.join(NAMES)}.")
    text = {key: _text(key, value) for key, value in given.items()}
    subject_bidx = None
    if "subject" in text and "subject_bidx" in text:
        raise BadFilter("Send subject or subject_bidx, not both.")
    if "subject" in text:
        try:
            number = parse_citizen_id(text["subject"]).value
        except InvalidIdentifier as invalid:
            raise BadFilter(f"subject: {invalid}.", "invalid_id_number") from None
        subject_bidx = index(number)
    elif "subject_bidx" in text:
        subject_bidx = bytes.fromhex(_match("subject_bidx", text["subject_bidx"], _BIDX))
    since = _moment("from", text.get("from"), end=False)
    until = _moment("to", text.get("to"), end=True)
    if since is not None and until is not None and since >= until:
        raise BadFilter("from must be before to.")
    action = text.get("action")
    if action is not None and action not in {a.value for a in Action}:
        raise BadFilter("action: not an action of the policy.")
    return SearchFilters(
        since=since,
        until=until,
        actor_kind=_one_of("actor_kind", text.get("actor_kind"), ACTOR_KINDS),
        actor=_optional("actor", text.get("actor"), _ACTOR),
        tier=_one_of("tier", text.get("tier"), TIERS),
        action=action,
        decision=_one_of("decision", text.get("decision"), DECISIONS),
        reason=_optional("reason", text.get("reason"), _CODE),
        purpose=_optional("purpose", text.get("purpose"), _CODE),
        consent_id=_optional("consent_id", text.get("consent_id"), _JTI),
        request_id=_optional("request_id", text.get("request_id"), _REQUEST_ID),
        subject_bidx=subject_bidx,
        limit=parse_limit(text.get("limit")),
        before_seq=parse_cursor(text.get("cursor")),
    )


def parse_limit(raw: str | None, default: int = PAGE_DEFAULT, most: int = PAGE_MAX) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4 or not 1 <= int(raw) <= most:
        raise BadFilter(f"limit: a whole number 1..{most}.")
    return int(raw)


def parse_cursor(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 0 < int(raw) <= NO_SEQ_BOUND:
        raise BadFilter("cursor: send next_cursor of the previous page.")
    return int(raw)


def parse_moment(name: str, raw: str | None, *, end: bool) -> datetime | None:
    """A bound of a period: `YYYY-MM-DD` (a day in the service's time zone; as `to`, the
    whole day is included) or an ISO 8601 time (without an offset: the service's zone)."""
    return _moment(name, raw, end=end)


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadFilter(f"{name}: send a string.")
    shown = str(value)
    if len(shown) > 200:
        raise BadFilter(f"{name}: too long.")
    return shown.strip()


def _match(name: str, value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(value):
        raise BadFilter(f"{name}: malformed.")
    return value


def _optional(name: str, value: str | None, pattern: re.Pattern[str]) -> str | None:
    return None if value is None else _match(name, value, pattern)


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise BadFilter(f"{name}: one of {', '.join(allowed)}.")
    return value


def _moment(name: str, raw: str | None, *, end: bool) -> datetime | None:
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            if not 1900 <= day.year <= 9998:
                raise ValueError(name)
            start = datetime.combine(day + timedelta(days=1 if end else 0), time(), _ZONE)
            return start.astimezone(UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"{name}: a date YYYY-MM-DD or an ISO 8601 time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_ZONE)
    if not 1900 <= moment.year <= 9998:
        raise BadFilter(f"{name}: out of range.")
    return moment.astimezone(UTC)
