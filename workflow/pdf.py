"""A small PDF builder for the reports (results, remediation plans): title, headings, paragraphs, tables.

Uses fpdf2 with the vendored DejaVu Sans (workflow/fonts), so Vietnamese text renders without any font
installed on the server. Build a ``Document``, add blocks in order, then ``output()`` the bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

FONTS = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVu"


class _Pdf(FPDF):
    page_label = "Trang"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, size=8)
        self.cell(0, 8, f"{self.page_label} {self.page_no()}/{{nb}}", align="C")


class Document:
    """A portrait A4 document; ``landscape=True`` for wide tables. Text is plain (no markup)."""

    def __init__(self, title: str, *, author: str | None = None, landscape: bool = False,
                 page_label: str = "Trang", created_at: dt.datetime | None = None):
        self.pdf = _Pdf(orientation="L" if landscape else "P", unit="mm", format="A4")
        self.pdf.page_label = page_label
        self.pdf.add_font(FAMILY, "", str(FONTS / "DejaVuSans.ttf"))
        self.pdf.add_font(FAMILY, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.pdf.set_title(title)
        if author:
            self.pdf.set_author(author)
        if created_at is not None:  # the same content gives the same bytes
            self.pdf.set_creation_date(created_at)
        self.pdf.set_auto_page_break(True, margin=16)
        self.pdf.add_page()
        self.pdf.set_font(FAMILY, "B", 15)
        self.pdf.multi_cell(0, 8, title, align="C", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(3)

    def heading(self, text: str) -> Document:
        self.pdf.ln(2)
        self.pdf.set_font(FAMILY, "B", 12)
        self.pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)
        return self

    def paragraph(self, text: str, *, bold: bool = False, size: float = 10, align: str = "J") -> Document:
        self.pdf.set_font(FAMILY, "B" if bold else "", size)
        self.pdf.multi_cell(0, 5.5, text, align=align, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1.5)
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]], *,
              widths: Sequence[float] | None = None, align: Sequence[str] | None = None,
              size: float = 9) -> Document:
        """A table with a bold header row repeated on each page; cells are shown with ``str``."""
        self.pdf.set_font(FAMILY, "", size)
        with self.pdf.table(col_widths=tuple(widths) if widths else None, text_align=tuple(align) if align else "LEFT",
                            headings_style=FontFace(emphasis="BOLD", fill_color=(230, 236, 242)),
                            line_height=1.25 * size * 0.3528 + 1.5, repeat_headings=1) as table:
            head = table.row()
            for text in header:
                head.cell(str(text))
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell("" if value is None else str(value))
        self.pdf.ln(2)
        return self

    def output(self) -> bytes:
        return bytes(self.pdf.output())
