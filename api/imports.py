"""Bulk uploads: JSON lists, CSV or Excel workbooks in the problem format's columns, and the DfE school register.

A table is read as it streams in (``models.sources``), turned into records and validated a chunk at a time
(``models.intake``), and each chunk is written to the request's transaction as it comes; one bad row anywhere
rolls the whole import back, and the 422 names every bad row as the file shows it (``line 14 (URN100002)``,
``Schools!D14 (S1)``). Memory stays flat per row, so a 130,000-row file costs what its chunk costs.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from flask import Request
from marshmallow import Schema, ValidationError
from sqlalchemy import insert, select

from api.context import db
from api.errors import ApiError
from models import tables as t
from models.audit import Action, record_event
from models.dfe import FIELD_COLUMNS, Notes
from models.errors import faults_from_marshmallow
from models.fast_records import fast_records
from models.intake import FileFaults, problem_rows, register_rows, validated
from models.repository import FIELDS, columns, new_row
from models.sources import UnreadableFile, is_xlsx, read_csv, read_xlsx

IMPORT_MAX_BYTES = 64 * 1024 * 1024  # the whole DfE register of England is about 60 MB
TABLE_TYPES = ("text/csv", "application/csv", "multipart/form-data", "application/octet-stream",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
PUBLISHED = ("current_advisers", "current_cornerstones")


@dataclass
class Upload:
    """The records of an upload, a chunk at a time, and the register rows that were skipped or flagged."""

    chunks: Iterable[list[Any]]
    notes: Notes | None = None  # the register's: rows skipped or flagged


def parse_upload(request: Request, collection: str, fmt: str, *, admit_primary: bool = False) -> Upload:
    """The upload's records: a JSON body, or a CSV or ``.xlsx`` table as the body or a multipart ``file`` field."""
    request.max_content_length = IMPORT_MAX_BYTES
    if request.is_json:
        return Upload([_json_records(request, collection)])
    if request.mimetype not in TABLE_TYPES:
        raise ApiError(415, "Send JSON (application/json), CSV (text/csv) or an Excel workbook (.xlsx), as the "
                            "body or as a multipart 'file'.")
    if fmt == "dfe" and collection != "schools":
        raise ApiError(422, "The DfE register format is for schools only.")
    stream, head = _stream(request)
    try:
        if is_xlsx(head):
            rows = read_xlsx(_seekable(stream), collection)
        else:
            rows = read_csv(stream, expected=FIELDS[collection])
    except UnreadableFile as err:
        raise ApiError(422, str(err)) from None
    if fmt == "dfe":
        notes = Notes.empty()
        pairs = register_rows(rows, notes, admit_primary=admit_primary)
        return Upload(validated(collection, pairs, columns=FIELD_COLUMNS), notes)
    return Upload(validated(collection, problem_rows(collection, rows)))


def _stream(request: Request) -> tuple[Any, bytes]:
    """The table's bytes (the multipart file, else the body) and their first four, which tell a workbook."""
    upload = request.files.get("file")
    if upload is not None:  # spooled by the form parser: seekable
        head = upload.stream.read(4)
        upload.stream.seek(0)
        return upload.stream, head
    body = io.BufferedReader(request.stream)  # type: ignore[type-var]  # a LimitedStream is raw
    return body, body.peek(4)[:4]


def _seekable(stream: Any) -> IO[bytes]:
    """A workbook is a zip archive, read from its end: spool a body stream to a temporary file first."""
    if getattr(stream, "seekable", lambda: False)():
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115  # read after this returns
    while block := stream.read(1 << 16):
        spool.write(block)
    spool.seek(0)
    return spool


def _json_records(request: Request, collection: str) -> list[Any]:
    from models.intake import SCHEMAS

    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "The body is not valid JSON.")
    rows = body.get(collection, body.get("records")) if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise ApiError(422, f"Send a JSON list of {collection}, or an object with a {collection!r} list.")
    return validate_rows(collection, SCHEMAS[collection], rows)


def import_upload(hub_id: str, table: Any, upload: Upload, wave: str | None = None, *, actor: str) -> dict:
    """Write the upload's records chunk by chunk in the request's transaction, then record the event and commit;
    a bad row anywhere in the file rolls back everything (422). Returns the counts (and for the register, the
    rows it skipped or flagged)."""
    created = updated = 0
    try:
        for chunk in upload.chunks:
            c, u = _write(hub_id, table, chunk, wave)
            created, updated = created + c, updated + u
    except FileFaults as err:
        db().rollback()
        raise ApiError(422, str(err), err.code, err.details()) from None
    except UnreadableFile as err:
        db().rollback()
        raise ApiError(422, str(err)) from None
    details = {"created": created, "updated": updated, **({"wave": wave} if wave is not None else {})}
    if upload.notes is not None:
        details |= {"skipped": len(upload.notes.skipped), "flagged": len(upload.notes.flagged)}
    record_event(db(), hub_id, actor, Action.RECORDS_IMPORTED, table.__tablename__, details)
    db().commit()
    notes = upload.notes.as_dict() if upload.notes is not None else {}
    return {"created": created, "updated": updated, **notes}


def import_records(hub_id: str, table: Any, records: list[Any], wave: str | None = None, *, actor: str) -> dict:
    """Upsert validated records by id, record the import's event and commit; returns the counts."""
    return import_upload(hub_id, table, Upload([records]), wave, actor=actor)


def _write(hub_id: str, table: Any, records: list[Any], wave: str | None) -> tuple[int, int]:
    """Upsert one chunk by id. New records without current partners go in as one multi-row INSERT (the bulk of
    a large first import); the rest through the ORM. A retired record that is imported again is updated and stays
    retired (reinstating is its own step); an import never clears published pairings (publishing changes them)."""
    ids = [r.id for r in records]
    existing = {r.id: r for r in db().scalars(select(table).where(table.hub_id == hub_id, table.id.in_(ids)))}
    plain: list[dict[str, Any]] = []
    for record in records:
        values = columns(record)
        if wave is not None and table is t.School:
            values["wave"] = wave
        row = existing.get(record.id)
        if row is not None:
            for key, value in values.items():
                if not (key in PUBLISHED and not value):
                    setattr(row, key, value)
        elif any(values.get(key) for key in PUBLISHED):
            db().add(new_row(table, hub_id, values))
        else:
            plain.append({"hub_id": hub_id, **{k: v for k, v in values.items() if k not in PUBLISHED}})
    db().flush()
    if plain:
        db().execute(insert(table), plain)
    created = len(records) - len(existing)
    return created, len(existing)


def validate_rows(collection: str, schema: type[Schema], rows: list[Any]) -> list[Any]:
    """Every JSON row through the record schema (by the fast path of ``load_problem`` when it takes them all and
    no id repeats); all faults, named by position and id, in one 422."""
    if not rows:
        raise ApiError(422, "The file has no records.")
    fast = fast_records(collection, rows)
    if fast is not None and len({r.id for r in fast}) == len(fast):
        return fast
    loaded, faults = [], []
    seen: dict[str, int] = {}
    one = schema()
    for index, raw in enumerate(rows):
        try:
            record = one.load(raw)
        except ValidationError as err:
            faults += faults_from_marshmallow({index: err.messages}, rows, collection)
            continue
        if record.id in seen:
            faults += faults_from_marshmallow(
                {index: {"id": [f"Duplicate id; first in row {seen[record.id]}."]}}, rows, collection
            )
        seen.setdefault(record.id, index)
        loaded.append(record)
    if faults:
        raise ApiError(
            422,
            f"{len(faults)} problem(s) in the file; nothing was imported.",
            "invalid_import",
            [{"record": f.record, "field": f.field, "message": f.message} for f in faults],
        )
    return loaded
