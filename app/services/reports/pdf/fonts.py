"""The CJK font every PDF report is set in, from a Debian font package.

Guarantees: the font is a TrueType (glyf) CJK font installed by the system package
`fonts-wqy-zenhei` (the Makefile's SYSTEM_PACKAGES), registered with ReportLab once per process
(its tables copied out of the file once, `KeptTables`) and embedded as a subset in every PDF,
so any reader shows the text and its text layer extracts as Unicode; if no such font is
installed, `FontMissing` (the caller answers 503: a report is never rendered in a font that
cannot show it).
"""

from __future__ import annotations

import threading
from pathlib import Path

from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace

from app.services.health import NotReady

#: Where Debian's packages put the font (first found wins); subfont 0 of the collection is the
#: proportional "WenQuanYi Zen Hei".
FONT_FILES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)
FONT_NAME = "CreditGateSans"
#: Streams are written deflated only, not also ASCII85-encoded (a 7-bit transport is not
#: needed; ASCII85 would cost a quarter more bytes and most of ReportLab's output time).
rl_config.useA85 = 0
_lock = threading.Lock()
_registered: str | None = None


class FontMissing(NotReady):
    """No CJK font is installed: install the Debian package fonts-wqy-zenhei."""


class KeptTables(TTFontFace):
    """ReportLab's TrueType face with each table copied out of the font file once per process.

    ReportLab's subsetter asks for whole tables for every subset of every document; a table is
    a fresh copy of its bytes each time, and the CJK font's `glyf` table is 10 MB (about 1.4
    ms of memory traffic per subset, two or more subsets per report). A table's bytes never
    change, so the first copy is kept (about 11 MB for every table the subsetter reads) and
    handed out again; nothing else of the face differs."""

    def __init__(self, filename: str, subfont_index: int = 0) -> None:
        super().__init__(filename, subfontIndex=subfont_index)
        self._tables: dict[str, bytes] = {}
        self._tables_lock = threading.Lock()

    def get_table(self, tag: str) -> bytes:
        table = self._tables.get(tag)
        if table is None:
            with self._tables_lock:
                table = self._tables.get(tag)
                if table is None:
                    table = super().get_table(tag)  # type: ignore[no-untyped-call]
                    self._tables[tag] = table
        return table


def report_font() -> str:
    """The registered font's name, registering it on first use (thread-safe)."""
    global _registered
    if _registered is not None:
        return _registered
    with _lock:
        if _registered is None:
            path = next((p for p in FONT_FILES if p.is_file()), None)
            if path is None:
                raise FontMissing(
                    "no CJK font for PDF reports: install the Debian package fonts-wqy-zenhei"
                )
            font = TTFont(FONT_NAME, str(path), subfontIndex=0)
            font.face = KeptTables(str(path), 0)  # the same face, its tables kept (parsed again)
            pdfmetrics.registerFont(font)
            _registered = FONT_NAME
    return _registered
