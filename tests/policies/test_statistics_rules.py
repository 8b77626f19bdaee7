"""Small-cell suppression: a cell under 10 subjects, and its complement, carry no number."""

from __future__ import annotations

from policies.statistics import Cell, default_statistics_rules, suppress

RULES = default_statistics_rules()


def _numbers(cells: list[Cell]) -> dict[str, int | None]:
    return {cell.key: cell.count for cell in cells}


def test_a_small_cell_and_its_complement_are_suppressed() -> None:
    cells = [Cell("a", 40, 120), Cell("b", 12, 30), Cell("c", 3, 4)]
    shown, total = suppress(cells, Cell("total", 55, 154), RULES)
    assert _numbers(shown) == {"a": 120, "b": None, "c": None}  # b hides c from subtraction
    assert total.count == 154
    assert all(cell.subjects is None for cell in shown if cell.suppressed)


def test_two_small_cells_need_no_complement_and_big_ones_stay() -> None:
    cells = [Cell("a", 40, 120), Cell("b", 12, 30), Cell("c", 3, 4), Cell("d", 9, 9)]
    shown, _ = suppress(cells, Cell("total", 64, 163), RULES)
    assert _numbers(shown) == {"a": 120, "b": 30, "c": None, "d": None}


def test_a_table_whose_total_is_small_is_suppressed_whole() -> None:
    cells = [Cell("a", 5, 5), Cell("b", 4, 6)]
    shown, total = suppress(cells, Cell("total", 9, 11), RULES)
    assert total.suppressed
    assert all(cell.suppressed for cell in shown)


def test_extra_figures_are_suppressed_with_their_cell() -> None:
    cells = [
        Cell("a", 40, 50, (("mean_delay_days", 3.5),)),
        Cell("b", 2, 2, (("mean_delay_days", 1.0),)),
    ]
    shown, _ = suppress(cells, Cell("total", 42, 52), RULES)
    assert dict(shown[1].extra) == {"mean_delay_days": None}
    assert dict(shown[0].extra) == {"mean_delay_days": None}  # the complement of b
