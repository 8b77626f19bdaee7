"""The rules of subjects' objections and statements (policies/data/rights.toml).

Guarantees: `load_rights` returns rules only if the whole file is valid (every key known and of
its type, every figure positive, `day_kind` calendar or working), else one `RightsError` naming
the file and the key, never a value; `answer_due` is the last day on which an objection filed
on a day is answered in time: `answer_days` calendar days after it, or the `answer_days`-th
working day after it by the holiday calendar. Pure: no Flask, no database.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Literal

from policies.calendar import WorkingCalendar, default_calendar
from policies.toml_tables import StrictTable

DayKind = Literal["calendar", "working"]


class RightsError(ValueError):
    """The rights file is invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class RightsRules:
    answer_days: int
    day_kind: DayKind
    objection_text_max: int
    reason_max: int
    dispute_window_days: int
    statement_text_max: int

    def answer_due(self, filed_on: date, calendar: WorkingCalendar | None = None) -> date:
        """The last day to answer an objection filed on `filed_on`."""
        if self.day_kind == "calendar":
            return filed_on + timedelta(days=self.answer_days)
        return (calendar or default_calendar()).working_day_after(filed_on, self.answer_days).day


def parse_rights(text: str, *, source: str) -> RightsRules:
    def error(problem: str) -> RightsError:
        return RightsError(f"{source}: {problem}")

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})") from None
    top = StrictTable(doc, allowed=("schema", "objection", "statement"), error=error)
    if top.integer("schema") != 1:
        raise error("only schema 1 is understood")

    def section(name: str, keys: tuple[str, ...]) -> StrictTable:
        return StrictTable(top.raw(name), allowed=keys, error=lambda p: error(f"[{name}]: {p}"))

    objection = section(
        "objection",
        (
            "answer_days",
            "day_kind",
            "text_max_chars",
            "reason_max_chars",
            "dispute_window_days",
        ),
    )
    statement = section("statement", ("text_max_chars",))
    figures = {
        "answer_days": objection.integer("answer_days"),
        "text_max_chars": objection.integer("text_max_chars"),
        "reason_max_chars": objection.integer("reason_max_chars"),
        "dispute_window_days": objection.integer("dispute_window_days"),
        "statement.text_max_chars": statement.integer("text_max_chars"),
    }
    for key, value in figures.items():
        if value < 1:
            raise error(f"{key!r} must be a positive integer")
    kind = objection.text("day_kind")
    if kind not in ("calendar", "working"):
        raise error("[objection]: 'day_kind' must be calendar or working")
    return RightsRules(
        answer_days=figures["answer_days"],
        day_kind="calendar" if kind == "calendar" else "working",
        objection_text_max=figures["text_max_chars"],
        reason_max=figures["reason_max_chars"],
        dispute_window_days=figures["dispute_window_days"],
        statement_text_max=figures["statement.text_max_chars"],
    )


@functools.cache
def default_rights() -> RightsRules:
    """The packaged rules (read once per process)."""
    path = resources.files("policies") / "data" / "rights.toml"
    return parse_rights(path.read_text(encoding="utf-8"), source="policies/data/rights.toml")
