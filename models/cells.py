"""Cells for spreadsheets: text no spreadsheet program runs as a formula, and CSV written a line at a time.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or
a line break, whatever follows), and they read the full-width forms ``＝``, ``＋``, ``－``, ``＠`` as the same. Such
a cell gets a leading apostrophe, which every one of them shows as text (the OWASP recommendation for CSV
injection). Every cell holding a line break is quoted, so a carriage return never splits a row.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

FORMULA_STARTS = frozenset("=+-@")
BREAKS = "\t\r\n"
LIST_SEPARATOR = ";"


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet program could take the text for a formula."""
    if not text:
        return False
    if text[0] in BREAKS:
        return True
    first = text.lstrip(" \t\r\n")[:1]
    return bool(first) and unicodedata.normalize("NFKC", first)[:1] in FORMULA_STARTS


def safe_text(text: str) -> str:
    """The text as a spreadsheet shows it without running it."""
    return "'" + text if runs_as_formula(text) else text


def cell(value: Any, separator: str = LIST_SEPARATOR) -> Any:
    """A value for one spreadsheet cell: lists joined, text made safe; numbers and booleans as they are."""
    if isinstance(value, list | tuple):
        value = separator.join("" if v is None else str(v) for v in value)
    return safe_text(value) if isinstance(value, str) else value


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """A header line then one CSV line per row, each as soon as its row is there (for a streamed response).
    Lines end in CRLF, as RFC 4180 and spreadsheet programs expect; a cell with a line break is quoted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def line(cells: Iterable[Any]) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(columns)
    for row in rows:
        yield line(cell(row.get(c)) for c in columns)
