"""Uploaded tables read row by row: CSV (any of the usual encodings and delimiters) and Excel workbooks.

A reader yields ``SourceRow``s, each with the place a person finds it at: ``line 14`` of a CSV file (the file line
where the row starts, counting the header as line 1), or ``Schools!14`` in a workbook (the row number Excel shows,
a cell as ``Schools!D14``). Memory stays constant per row: a CSV is decoded as it streams in, a workbook is read
with openpyxl's read-only mode.

CSV rules (docs/data.md): UTF-8 with or without a byte-order mark, else Windows-1252 (the DfE register's encoding);
the delimiter is whichever of ``,``, ``;``, tab or ``|`` the header row uses; rows with every cell empty are
skipped (spreadsheets leave them at the end); trailing empty cells beyond the header are allowed (Excel writes
them), other extra cells are refused by line.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
XLSX_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive
CHUNK_BYTES = 1 << 16


class UnreadableFile(ValueError):
    """The upload cannot be read as a table at all (before any record is looked at)."""


@dataclass(frozen=True)
class Sheet:
    """Where rows come from: a CSV file (``name`` None) or one worksheet of a workbook, with its header row and,
    for a worksheet that declares it (its dimension: Excel and openpyxl write one), its last row, so that a reader
    can say how far through it is."""

    name: str | None
    header: tuple[str, ...]
    rows: int | None = None

    def place(self, line: int, column: str | None = None) -> str:
        """``line 14``, or ``Schools!D14`` for a column's cell (``Schools!14:14`` for the whole row)."""
        if self.name is None:
            return f"line {line}"
        if column is None or column not in self.header:
            return f"{self.name}!{line}:{line}"
        from openpyxl.utils import get_column_letter

        return f"{self.name}!{get_column_letter(self.header.index(column) + 1)}{line}"


@dataclass(frozen=True)
class SourceRow:
    """One data row: its line (or sheet row), and its non-empty cells as stripped text by header name."""

    sheet: Sheet
    line: int
    cells: dict[str, str]

    def place(self, column: str | None = None) -> str:
        return self.sheet.place(self.line, column)


def is_xlsx(head: bytes) -> bool:
    return head.startswith(XLSX_MAGIC)


# ---------------------------------------------------------------------------------------------------- CSV


class _Utf8OrCp1252(io.RawIOBase):
    """A byte stream re-encoded as UTF-8: read as UTF-8 (a BOM dropped) until a byte sequence is not UTF-8, then
    as Windows-1252 from there on. Switching is only allowed while everything so far was ASCII (the two agree on
    ASCII); a file that mixes the encodings is refused rather than half garbled."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.decoder: Any = codecs.getincrementaldecoder("utf-8")()
        self.encoding = "utf-8"
        self.ascii_so_far = True
        self.offset = 0
        self.pending = b""
        self.started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            raw = self.stream.read(CHUNK_BYTES)
            final = not raw
            if not self.started:
                self.started = True
                raw = raw.removeprefix(codecs.BOM_UTF8)
            text = self._decode(raw, final)
            self.offset += len(raw)
            self.pending = text.encode("utf-8")
            if final and not self.pending:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def _decode(self, raw: bytes, final: bool) -> str:
        if self.encoding == "utf-8":
            try:
                text: str = self.decoder.decode(raw, final)
            except UnicodeDecodeError as err:
                if not (self.ascii_so_far and raw[: max(err.start, 0)].isascii()):
                    where = self.offset + max(err.start, 0)
                    raise UnreadableFile(
                        "The file is neither UTF-8 nor Windows-1252 throughout (the byte at offset "
                        f"{where} is not UTF-8 after earlier UTF-8 text); save it again as UTF-8 CSV."
                    ) from None
                self.encoding = "cp1252"
                self.decoder = codecs.getincrementaldecoder("cp1252")()
            else:
                self.ascii_so_far = self.ascii_so_far and text.isascii()
                return text
        try:
            return str(self.decoder.decode(raw, final))
        except UnicodeDecodeError as err:
            raise UnreadableFile(
                f"The byte at offset {self.offset + err.start} (0x{raw[err.start]:02X}) is not a character in UTF-8 or "
                "Windows-1252; save the file again as UTF-8 CSV."
            ) from None


def read_csv(stream: IO[bytes], *, expected: tuple[str, ...] = ()) -> Iterator[SourceRow]:
    """The CSV's rows (each knows its header), read as the stream is. ``expected`` column names help to say which
    delimiter was expected when the header has none of the usual ones."""
    text = io.TextIOWrapper(io.BufferedReader(_Utf8OrCp1252(stream)), encoding="utf-8", newline="")
    first = text.readline()
    if not first.strip():
        raise UnreadableFile("The file has no header row.")
    delimiter = _delimiter(first, expected)
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=True)
    try:
        header = tuple(cell.strip().lstrip("\ufeff") for cell in next(reader))
    except csv.Error as err:
        raise UnreadableFile(f"Line 1 of the CSV is not valid CSV: {err}.") from None
    return _csv_rows(reader, Sheet(None, _checked_header(header, "line 1")))


def _delimiter(first: str, expected: tuple[str, ...]) -> str:
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    if counts[best] == 0 and len(expected) > 1:
        raise UnreadableFile(
            "The header row has only one column: separate the columns with commas (or semicolons, tabs or "
            f"vertical bars), e.g. {','.join(expected[:3])}."
        )
    return best


def _checked_header(header: tuple[str, ...], where: str) -> tuple[str, ...]:
    named = [h for h in header if h]
    duplicates = sorted({h for h in named if named.count(h) > 1})
    if duplicates:
        raise UnreadableFile(f"The header row ({where}) names a column twice: {', '.join(map(repr, duplicates))}.")
    return header


def _csv_rows(reader: Any, sheet: Sheet) -> Iterator[SourceRow]:
    width = len(sheet.header)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise UnreadableFile(f"Line {start} of the CSV is not valid CSV: {err}.") from None
        line, start = start, reader.line_num + 1
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            raise UnreadableFile(
                f"Line {line} of the CSV has more cells than the header ({len(cells)} against {width})."
            )
        values = {h: c.strip() for h, c in zip(sheet.header, cells, strict=False) if h and c.strip()}
        if values:
            yield SourceRow(sheet, line, values)


# ---------------------------------------------------------------------------------------------------- XLSX


def read_xlsx(stream: IO[bytes], sheet_name: str | None) -> Iterator[SourceRow]:
    """The rows of one worksheet: the one named ``sheet_name`` (any case) when the workbook has it,
    else the first. Cells are read as the values Excel shows (a formula's last computed value)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises zipfile, KeyError and XML errors for a damaged file
        raise UnreadableFile(f"The file is not a readable Excel workbook (.xlsx): {err}.") from None
    names = {name.lower(): name for name in book.sheetnames}
    title = names.get((sheet_name or "").lower(), book.sheetnames[0])
    worksheet = book[title]
    rows = worksheet.iter_rows(values_only=True)
    header_cells = next(rows, None)
    if header_cells is None or not any(c is not None and str(c).strip() for c in header_cells):
        book.close()
        raise UnreadableFile(f"Sheet {title!r} has no header row (row 1).")
    header = tuple(_text(c) for c in header_cells)
    while header and not header[-1]:
        header = header[:-1]
    return _xlsx_rows(book, rows, Sheet(title, _checked_header(header, f"{title}!1:1"), worksheet.max_row))


def _xlsx_rows(book: Any, rows: Iterator[tuple[Any, ...]], sheet: Sheet) -> Iterator[SourceRow]:
    try:
        width = len(sheet.header)
        for line, cells in enumerate(rows, start=2):
            extra = [i for i, c in enumerate(cells[width:], start=width) if _text(c)]
            if extra:
                from openpyxl.utils import get_column_letter

                cell = f"{sheet.name}!{get_column_letter(extra[0] + 1)}{line}"
                raise UnreadableFile(f"Cell {cell} holds a value in a column without a header.")
            values = {h: v for h, c in zip(sheet.header, cells, strict=False) if h and (v := _text(c))}
            if values:
                yield SourceRow(sheet, line, values)
    finally:
        book.close()


def _text(value: Any) -> str:
    """A cell as the text a CSV would hold: whole numbers without ``.0``, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()
