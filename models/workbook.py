"""Excel workbooks a Hub Lead can print: one sheet per table, a bold frozen header row repeated on every printed
page, columns wide enough for their contents, landscape and fitted to the page width.

Written with openpyxl's write-only mode (rows go to disk as they come: constant memory) into a file the caller
provides. Every text cell is written as text, never as a formula, whatever it starts with; a line break is
written as Excel's own (LF); lists are joined with ``; `` (which the importer splits again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LIST_SEPARATOR = "; "


@dataclass(frozen=True)
class Column:
    """A column of a sheet: the key of its value in each row, its header and its width in characters."""

    key: str
    title: str
    width: float = 14


@dataclass(frozen=True)
class SheetSpec:
    """One sheet: its tab name (at most 31 characters, as Excel allows), columns and rows."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Mapping[str, Any]]


def write_workbook(sheets: Iterable[SheetSpec], out: IO[bytes] | str) -> None:
    """Write the sheets, in order, as one .xlsx workbook to ``out`` (a path or a binary file)."""
    book = Workbook(write_only=True)
    for spec in sheets:
        _sheet(book, spec)
    book.save(out)


def _sheet(book: Workbook, spec: SheetSpec) -> None:
    sheet = book.create_sheet(spec.title[:31])
    for index, column in enumerate(spec.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    bold = Font(bold=True)
    header = []
    for column in spec.columns:
        cell = WriteOnlyCell(sheet, value=column.title)
        cell.font = bold
        cell.alignment = Alignment(vertical="top", wrap_text=True)
        header.append(cell)
    sheet.append(header)
    for row in spec.rows:
        sheet.append([_cell(sheet, row.get(column.key)) for column in spec.columns])


def _cell(sheet: Any, value: Any) -> Any:
    """Numbers and booleans as they are; anything else as a text cell (so ``=1+1`` stays text)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        value = LIST_SEPARATOR.join("" if v is None else str(v) for v in value)
    cell = WriteOnlyCell(sheet, value=None)
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")  # a line break in a cell is Excel's LF
    cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
    cell.data_type = "s"
    return cell
