"""A small line-layout engine on ReportLab's canvas: wrapped CJK text, key-value rows and tables
flowed onto A4 pages, then drawn with a footer that knows the page count.

Guarantees: it draws only the strings it is given (nothing is read or added); every string is
set in the one embedded CJK font (`fonts.report_font`), wrapped by measured width so nothing
runs off the page; a table's header row repeats on each page it spans.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 48.0
TOP = PAGE_HEIGHT - 56.0
BOTTOM = 64.0
WIDTH = PAGE_WIDTH - 2 * MARGIN
GREY = (0.35, 0.35, 0.35)


class Text(NamedTuple):
    x: float
    y: float
    size: float
    string: str
    grey: bool


class Rule(NamedTuple):
    x1: float
    y: float
    x2: float
    width: float


@dataclass
class Page:
    ops: list[Text | Rule] = field(default_factory=list)


#: Each registered font's advance widths at size 1, per character, shared by every report of
#: the process (a font's metrics never change once registered).
_WIDTHS: dict[str, dict[str, float]] = {}


class Flow:
    """Lays lines out top-down; a line that does not fit starts a new page."""

    def __init__(self, font: str) -> None:
        self.font = font
        self._face = pdfmetrics.getFont(font)
        self._widths = _WIDTHS.setdefault(font, {})
        self.pages: list[Page] = [Page()]
        self.y = TOP
        self._on_new_page: Callable[[], None] | None = None

    # --------------------------------------------------------------------------- measuring

    def width(self, text: str, size: float) -> float:
        widths = self._widths
        total = 0.0
        for char in text:
            w = widths.get(char)
            if w is None:
                w = widths[char] = self._face.stringWidth(char, 1.0)
            total += w
        return total * size

    def wrap(self, text: str, size: float, room: float) -> list[str]:
        """`text` cut into lines no wider than `room` (by character: CJK has no spaces; a
        line break in the text starts a new line)."""
        if "\n" not in text and self._face.stringWidth(text, size) <= room:
            return [text]  # the common case, measured in one call
        lines: list[str] = []
        for part in text.split("\n"):
            line, used = "", 0.0
            widths = self._widths
            for char in part:
                w = widths.get(char)
                if w is None:
                    w = widths[char] = self._face.stringWidth(char, 1.0)
                w *= size
                if line and used + w > room:
                    lines.append(line)
                    line, used = "", 0.0
                line += char
                used += w
            lines.append(line)
        return lines

    # --------------------------------------------------------------------------- placing

    @property
    def page(self) -> Page:
        return self.pages[-1]

    def room(self, height: float) -> None:
        """Start a new page unless `height` points fit above the bottom margin."""
        if self.y - height < BOTTOM:
            self.pages.append(Page())
            self.y = TOP
            if self._on_new_page is not None:
                self._on_new_page()

    def text(self, x: float, y: float, size: float, string: str, *, grey: bool = False) -> None:
        self.page.ops.append(Text(x, y, size, string, grey))

    def rule(self, width: float = 0.6, *, x1: float = MARGIN, x2: float = MARGIN + WIDTH) -> None:
        self.page.ops.append(Rule(x1, self.y, x2, width))

    def gap(self, height: float) -> None:
        self.y -= height

    def paragraph(
        self, string: str, size: float = 9.5, *, indent: float = 0.0, grey: bool = False
    ) -> None:
        leading = size * 1.45
        for line in self.wrap(string, size, WIDTH - indent):
            self.room(leading)
            self.y -= leading
            self.text(MARGIN + indent, self.y + size * 0.3, size, line, grey=grey)

    def heading(self, string: str, size: float = 13.0) -> None:
        self.room(size * 2.2 + 40)  # never a heading alone at the foot of a page
        self.y -= size * 1.2
        self.text(MARGIN, self.y, size, string)
        self.y -= size * 0.5
        self.rule(0.8)
        self.y -= size * 0.4

    def rows(
        self,
        pairs: Sequence[tuple[str, str]],
        size: float = 9.5,
        *,
        indent: float = 12.0,
        label_width: float = 120.0,
    ) -> None:
        """Label / value rows; long values wrap under themselves."""
        leading = size * 1.45
        value_x = MARGIN + indent + label_width
        room = WIDTH - indent - label_width
        for label, value in pairs:
            labels = self.wrap(label, size, label_width - 6)
            values = self.wrap(value, size, room)
            for i in range(max(len(labels), len(values))):
                self.room(leading)
                self.y -= leading
                baseline = self.y + size * 0.3
                if i < len(labels):
                    self.text(MARGIN + indent, baseline, size, labels[i], grey=True)
                if i < len(values):
                    self.text(value_x, baseline, size, values[i])

    def table(
        self,
        header: Sequence[str],
        widths: Sequence[float],
        body: Sequence[Sequence[str]],
        size: float = 8.5,
    ) -> None:
        """A ruled table; cells wrap; the header repeats on every page the table spans."""
        leading = size * 1.4
        scale = WIDTH / sum(widths)
        cols = [w * scale for w in widths]
        xs = [MARGIN + sum(cols[:i]) for i in range(len(cols))]

        def draw_row(cells: Sequence[str], *, grey: bool) -> None:
            wrapped = [self.wrap(c, size, cols[i] - 6) for i, c in enumerate(cells)]
            height = max(len(w) for w in wrapped) * leading + 4
            self.room(height)
            top = self.y
            for i, lines in enumerate(wrapped):
                y = top
                for line in lines:
                    y -= leading
                    self.text(xs[i] + 3, y + size * 0.3, size, line, grey=grey)
            self.y = top - height
            self.rule(0.3)

        def header_row() -> None:
            self.rule(0.6)
            draw_row(header, grey=True)

        header_row()
        self._on_new_page = header_row
        try:
            for cells in body:
                draw_row(cells, grey=False)
        finally:
            self._on_new_page = None


def draw(
    flow: Flow,
    *,
    title: str,
    creation_date: str,
    footer: Callable[[int, int], Sequence[str]],
) -> bytes:
    """The laid-out pages as one PDF: every page gets the `footer(n, total)` lines.

    `creation_date` is the PDF date string (``D:YYYYMMDDHHmmSS+00'00'``) written as the
    document's creation and modification date; the output is otherwise deterministic.
    """
    out = io.BytesIO()
    canvas = Canvas(
        out,
        pagesize=A4,
        pageCompression=1,
        invariant=True,
        initialFontName=flow.font,  # type: ignore[arg-type]  # types-reportlab says float
        initialFontSize=9,
    )
    canvas.setDateFormatter(lambda *_: creation_date)
    canvas.setTitle(title)
    canvas.setAuthor("CreditGate")
    canvas.setCreator("CreditGate")
    canvas.setSubject("")
    total = len(flow.pages)
    font = flow.font
    for number, page in enumerate(flow.pages, start=1):
        size: float | None = None
        grey: bool | None = None
        text = canvas.beginText()  # one text object per page
        rules: dict[float, list[tuple[float, float, float, float]]] = {}
        for op in page.ops:
            if isinstance(op, Text):
                if size != op.size:  # (a font change makes ReportLab select the subset again)
                    text.setFont(font, op.size)
                    size = op.size
                if grey != op.grey:
                    text.setFillColorRGB(*(GREY if op.grey else (0, 0, 0)))
                    grey = op.grey
                text.setTextOrigin(op.x, op.y)
                # textLine, not textOut: each line is placed absolutely, so the cursor's
                # advance (a width measurement per line) is never needed
                text.textLine(op.string)
            else:
                rules.setdefault(op.width, []).append((op.x1, op.y, op.x2, op.y))
        for width, lines in rules.items():  # one path per rule width, not one per rule
            canvas.setLineWidth(width)
            canvas.lines(lines)
        canvas.drawText(text)
        canvas.setFillColorRGB(*GREY)
        canvas.setFont(font, 7.5)
        for i, line in enumerate(footer(number, total)):
            canvas.drawString(MARGIN, 40 - i * 10, line)
        canvas.setLineWidth(0.4)
        canvas.line(MARGIN, 50, MARGIN + WIDTH, 50)
        canvas.showPage()
    canvas.save()
    return out.getvalue()
