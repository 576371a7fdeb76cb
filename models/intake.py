"""Uploaded rows to validated records, in chunks, with every fault named by its place in the file.

One pipeline for every way records arrive in a table (a CSV, a workbook sheet, the DfE register): cells become a
problem-format record (``record_of``), each record goes through its marshmallow schema, and a fault names the row
as a person finds it (``line 14 (URN100002)``, ``Schools!D14 (S1)``). Records come out a chunk at a time so a
caller can write them as they come; the faults of the whole file are raised at the end as one ``FileFaults``, so
a caller that wrote chunks rolls them back and nothing is half-imported.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields

from models import dfe
from models.errors import Fault
from models.fast_records import fast_records
from models.schemas import AdviserSchema, EmployerSchema, SchoolSchema, SiteSchema
from models.sources import SourceRow, UnreadableFile

SCHEMAS: dict[str, type[Schema]] = {"schools": SchoolSchema, "advisers": AdviserSchema, "employers": EmployerSchema}
STATISTICS = frozenset({"pupils", "pct_fsm"})  # published figures, which the DfE suppresses when small
LISTS = frozenset({"sectors", "needs", "skills", "conflicts", "current_advisers", "current_cornerstones"})


def _read(convert: Callable[[str], Any], value: str) -> Any:
    """``convert(value)``, or the text as it was where it does not spell one (a plain ``try``: this runs for
    every number of every row, and ``contextlib.suppress`` took a third of a large import's time)."""
    try:
        return convert(value)
    except ValueError:
        return value


BOOLEAN_WORDS = fields.Boolean.truthy | fields.Boolean.falsy


def _boolean(value: str) -> Any:
    return value in fields.Boolean.truthy if value in BOOLEAN_WORDS else value


def _readers(schema: type[Schema]) -> dict[str, Callable[[str], Any]]:
    """How each integer, number and true/false field of the schema reads a cell's text (``typed``)."""
    read: dict[type[fields.Field], Callable[[str], Any]] = {
        fields.Integer: lambda v: _read(int, v), fields.Float: lambda v: _read(float, v), fields.Boolean: _boolean}
    return {name: reader for name, field in schema().fields.items()
            for kind, reader in read.items() if isinstance(field, kind)}


READERS = {collection: _readers(schema) for collection, schema in SCHEMAS.items()}
SITE_READERS = _readers(SiteSchema)
CHUNK = 1_000
MAX_FAULTS = 500  # listed in one error; the count says how many there were in all


class FileFaults(ValueError):
    """Rows of an upload that are not valid records; nothing of the file may be kept."""

    code = "invalid_import"

    def __init__(self, faults: list[Fault], total: int):
        self.faults, self.total = faults, total
        shown = "" if total <= len(faults) else f" (the first {len(faults)} are listed)"
        super().__init__(f"{total} problem(s) in the file{shown}; nothing was imported.")

    def details(self) -> list[dict[str, str]]:
        return [{"record": f.record, "field": f.field, "message": f.message} for f in self.faults]


def record_of(collection: str, cells: Mapping[str, str]) -> dict[str, Any]:
    """A row's cells as a problem-format record: lists are ``;``-separated, Compass marks come as ``gatsby_1``..
    ``gatsby_8``, an employer's ``lat``/``lon`` is its one site, and a number or true/false field's cell that
    spells one is one (``typed``). A suppressed statistic (``SUPP``, ``x``: the DfE's marks for small numbers) is
    unknown, as an empty cell."""
    out: dict[str, Any] = {}
    gatsby = {}
    for key, value in cells.items():
        if key.startswith("gatsby_"):
            gatsby[key.removeprefix("gatsby_")] = _read(float, value)
        elif key in STATISTICS and value.lower() in dfe.SUPPRESSED:
            continue
        elif key in LISTS:
            out[key] = [v.strip() for v in value.split(";") if v.strip()]
        else:
            out[key] = value
    if gatsby:
        out["gatsby"] = gatsby
    if collection == "employers" and "lat" in out and "lon" in out:
        site = _typed({"lat": out.pop("lat"), "lon": out.pop("lon")}, SITE_READERS)
        out["sites"] = [site]
    return typed(out, collection)


def typed(row: dict[str, Any], collection: str) -> dict[str, Any]:
    """The row with each cell of a number or true/false field read as one where it spells one, exactly as the
    schema would read the text, so that the record is the one a JSON upload gives and the fast path
    (``models.fast_records``) can take it: an integer field's "900", "-3" or a 2^70 (the schemas' strict integers
    refuse "156.9" rather than truncate it, as in JSON), a number field's "52.1" or "1e3" (``float()``, as
    ``fields.Float``), a true/false field's words of ``fields.Boolean.truthy`` and ``falsy``. Any other cell
    ("900.5" for an integer, "many", "maybe") stays text, for the schema to refuse by name."""
    return _typed(row, READERS[collection])


def _typed(row: dict[str, Any], readers: Mapping[str, Callable[[str], Any]]) -> dict[str, Any]:
    """``typed`` by these fields' readers (an employer's site has numbers only)."""
    for name in row.keys() & readers.keys():
        if isinstance(row[name], str):
            row[name] = readers[name](row[name])
    return row


def problem_rows(collection: str, rows: Iterable[SourceRow]) -> Iterator[tuple[SourceRow, dict[str, Any]]]:
    """Rows in the problem format's columns, each with its record."""
    return ((row, record_of(collection, row.cells)) for row in rows)


def register_rows(rows: Iterable[SourceRow], notes: dfe.Notes, *, admit_primary: bool = False
                  ) -> Iterator[tuple[SourceRow, dict[str, Any]]]:
    """DfE register rows, each with its school record (skipped and flagged rows go to ``notes``)."""
    kind = SchoolSchema().fields["kind"].validate
    known = frozenset(getattr(kind, "choices", ()))
    for row, record in dfe.schools(rows, notes, admit_primary=admit_primary, kinds=known):
        yield row, typed(record, "schools")


def validated(collection: str, rows: Iterable[tuple[SourceRow, dict[str, Any]]], *,
              columns: Mapping[str, str] | None = None, chunk: int = CHUNK) -> Iterator[list[Any]]:
    """Validated records a chunk at a time; raises ``FileFaults`` at the end if any row was bad (and then no
    further chunk is yielded once the first fault is seen). ``columns`` maps a field to the column it came from
    (the register's names), for the cell an error names; by default a field comes from the column of its name."""
    schema = SCHEMAS[collection]()
    seen: dict[str, int] = {}
    faults: list[Fault] = []
    total = count = 0
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, chunk)):
        count += len(batch)
        loaded = _clean_chunk(collection, schema, batch, seen)
        if loaded is None:  # a fault in the chunk: row by row, to name each
            loaded = []
            for row, raw in batch:
                found = _faults(schema, row, raw, seen, columns or {})
                if isinstance(found, list):
                    total += len(found)
                    faults += found[: max(0, MAX_FAULTS - len(faults))]
                else:
                    loaded.append(found)
        if not faults:
            yield loaded
    if faults:
        raise FileFaults(faults, total)
    if count == 0:
        raise UnreadableFile("The file has no records.")


def _clean_chunk(collection: str, schema: Schema, batch: list[tuple[SourceRow, dict[str, Any]]],
                 seen: dict[str, int]) -> list[Any] | None:
    """The chunk's records by the fast path, else in one schema pass (a sixth faster than row by row), or None if
    any row is bad or repeats an id; ``seen`` learns the chunk's ids (and lines) only when it is clean."""
    raws = [raw for _, raw in batch]
    records = fast_records(collection, raws)
    if records is None:
        try:
            records = schema.load(raws, many=True)
        except ValidationError:
            return None
    ids = [r.id for r in records]
    if len(set(ids)) < len(ids) or any(i in seen for i in ids):
        return None
    seen.update((r.id, row.line) for r, (row, _) in zip(records, batch, strict=True))
    return list(records)


def _faults(schema: Schema, row: SourceRow, raw: dict[str, Any], seen: dict[str, int],
            columns: Mapping[str, str]) -> Any:
    """The row's record, or the list of its faults."""
    rid = raw.get("id")
    try:
        record = schema.load(raw)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"": err.messages}
        return [Fault(_name(row, rid, _column(field, row, columns)), field, _text(message))
                for field, message in messages.items()]
    if record.id in seen:
        where = _name(row, rid, _column("id", row, columns))
        return [Fault(where, "id", f"Duplicate id; first at {row.sheet.place(seen[record.id])}.")]
    seen[record.id] = row.line
    return record


def _column(field: str, row: SourceRow, columns: Mapping[str, str]) -> str | None:
    if field in columns:
        return columns[field]
    if field == "gatsby":
        return next((c for c in row.sheet.header if c.startswith("gatsby_")), None)
    if field == "sites":
        return "lat"
    return field or None


def _name(row: SourceRow, rid: Any, column: str | None) -> str:
    place = row.place(column) if row.sheet.name is not None else row.place()
    return f"{place} ({rid})" if isinstance(rid, str) and rid else place


def _text(messages: Any) -> str:
    if isinstance(messages, list | tuple):
        return " ".join(_text(m) for m in messages)
    if isinstance(messages, Mapping):
        return " ".join(f"{k}: {_text(v)}" for k, v in messages.items())
    return str(messages)
