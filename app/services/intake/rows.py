"""Reading a batch, one row at a time, from a byte stream: JSON Lines or CSV (one record a line).

Guarantees:
- memory is bounded by one row: lines are read with a length limit (`MAX_ROW_BYTES`); a longer
  one is refused and skipped to its end without being held;
- rows are numbered as an editor or a spreadsheet shows them (1-based physical lines; in CSV
  the header is row 1); blank lines are skipped but keep their number;
- a last line without a newline that does not parse is refused as cut short
  (`format.truncated_line`); one that parses is accepted (many writers omit the last newline);
- a row that is not UTF-8, not one JSON object, or a CSV record with the wrong number of cells
  is refused (`format.malformed_line`); nothing here holds or reports a value.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from policies.catalog_model import Catalog
from policies.unified_format import RowError, csv_row

MAX_ROW_BYTES = 64 * 1024
FORMATS = ("jsonl", "csv")
Parsed = tuple[int, Any] | RowError


class LineSource(Protocol):
    """A binary stream read by lines (a file, a request body, a hashing wrapper)."""

    def readline(self, size: int = -1, /) -> bytes: ...


def _physical_lines(
    stream: LineSource, consumed: Callable[[int], None]
) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without the newline, whether a newline ended it); oversized lines
    come back as empty bytes with number -n (refused by the caller)."""
    number = 0
    while True:
        raw = stream.readline(MAX_ROW_BYTES + 1)
        if not raw:
            return
        number += 1
        consumed(len(raw))
        ended = raw.endswith(b"\n")
        if not ended and len(raw) > MAX_ROW_BYTES:
            while True:  # skip the rest of an oversized line without holding it
                rest = stream.readline(MAX_ROW_BYTES)
                consumed(len(rest))
                if not rest or rest.endswith(b"\n"):
                    ended = bool(rest)
                    break
            yield -number, b"", ended
            continue
        yield number, raw.rstrip(b"\r\n"), ended


def _too_long(number: int) -> RowError:
    return RowError(number, None, "format.malformed_line", "the row is longer than 64 KiB")


def read_jsonl(
    stream: LineSource, consumed: Callable[[int], None] = lambda n: None
) -> Iterator[Parsed]:
    """Each non-blank line as (row, parsed JSON) or a `RowError`."""
    for number, raw, ended in _physical_lines(stream, consumed):
        if number < 0:
            yield _too_long(-number)
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            rule = "format.malformed_line" if ended else "format.truncated_line"
            message = "not one JSON object" if ended else "the file ends inside this row"
            yield RowError(number, None, rule, message)
            continue
        yield number, value


def read_csv(
    stream: LineSource, catalog: Catalog, consumed: Callable[[int], None] = lambda n: None
) -> Iterator[Parsed]:
    """Each non-blank record after the header as (row, the JSON object it stands for)."""
    header: list[str] | None = None
    for number, raw, ended in _physical_lines(stream, consumed):
        if number < 0:
            yield _too_long(-number)
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            cells = next(csv.reader([raw.decode("utf-8")], strict=True))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            cells = None
        if header is None:
            if cells is None or not cells:
                yield RowError(number, None, "format.malformed_line", "the header is unreadable")
                return
            header = [cell.strip() for cell in cells]
            continue
        value = None if cells is None else csv_row(header, cells, catalog)
        if value is None:
            rule = "format.malformed_line" if ended else "format.truncated_line"
            message = (
                "not one CSV record matching the header"
                if ended
                else "the file ends inside this row"
            )
            yield RowError(number, None, rule, message)
            continue
        yield number, value


def read_rows(
    stream: LineSource,
    fmt: str,
    catalog: Catalog,
    consumed: Callable[[int], None] = lambda n: None,
) -> Iterator[Parsed]:
    if fmt == "jsonl":
        return read_jsonl(stream, consumed)
    if fmt == "csv":
        return read_csv(stream, catalog, consumed)
    raise ValueError(f"format must be one of {FORMATS}")
