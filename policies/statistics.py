"""Small-cell suppression of aggregate statistics (ARCHITECTURE §3), and its figures as data.

Guarantees of `suppress`, for one table of cells that sum to a published total:
- a cell describing fewer than `min_cell_subjects` distinct subjects is suppressed (primary);
- if exactly one cell of the table is suppressed, the next smallest is suppressed too
  (complementary), so the suppressed one cannot be recovered by subtracting the others from
  the total; a table whose total is under the threshold is suppressed whole, total included;
- a suppressed cell keeps its key and carries no number at all (`None`), so nothing about it
  can be read from the output.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

from policies.toml_tables import StrictTable


class StatisticsRulesError(ValueError):
    """The statistics file is invalid."""


@dataclass(frozen=True, slots=True)
class StatisticsRules:
    min_cell_subjects: int
    max_period_days: int
    timely_days: int


@dataclass(frozen=True, slots=True)
class Cell:
    key: str
    subjects: int | None  # distinct subjects the cell describes; None once suppressed
    count: int | None  # records or queries; None once suppressed
    extra: tuple[tuple[str, float | int | None], ...] = ()  # further figures of the cell

    @property
    def suppressed(self) -> bool:
        return self.count is None


def _hidden(cell: Cell) -> Cell:
    return replace(cell, subjects=None, count=None, extra=tuple((k, None) for k, _ in cell.extra))


def suppress(cells: Sequence[Cell], total: Cell, rules: StatisticsRules) -> tuple[list[Cell], Cell]:
    """The table's cells and total with small cells (and their complement) suppressed."""
    threshold = rules.min_cell_subjects
    if total.subjects is None or total.subjects < threshold:
        return [_hidden(cell) for cell in cells], _hidden(total)
    small = {i for i, cell in enumerate(cells) if (cell.subjects or 0) < threshold}
    if len(small) == 1:
        rest = sorted(
            (i for i in range(len(cells)) if i not in small),
            key=lambda i: (cells[i].subjects or 0, cells[i].key),
        )
        if rest:
            small.add(rest[0])
    return [_hidden(c) if i in small else c for i, c in enumerate(cells)], total


def parse_statistics_rules(text: str, *, source: str) -> StatisticsRules:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StatisticsRulesError(f"{source}: not valid TOML ({exc})") from None
    t = StrictTable(
        doc,
        allowed=("schema", "min_cell_subjects", "max_period_days", "timely_days"),
        error=lambda p: StatisticsRulesError(f"{source}: {p}"),
    )
    if t.integer("schema") != 1:
        raise StatisticsRulesError(f"{source}: only statistics schema 1 is understood")
    rules = StatisticsRules(
        t.integer("min_cell_subjects"), t.integer("max_period_days"), t.integer("timely_days")
    )
    if rules.min_cell_subjects < 2 or not 1 <= rules.max_period_days <= 3660:
        raise StatisticsRulesError(f"{source}: the threshold is >= 2, the period 1-3660 days")
    if rules.timely_days < 1:
        raise StatisticsRulesError(f"{source}: timely_days is >= 1")
    return rules


@functools.cache
def default_statistics_rules() -> StatisticsRules:
    resource = resources.files("policies").joinpath("data", "statistics.toml")
    return parse_statistics_rules(resource.read_text(encoding="utf-8"), source=str(resource))
