"""Bulk uploads as rows for the record schemas: JSON lists, CSV in the problem format, the DfE school register.

The register ships as Windows-1252, so a CSV that is not UTF-8 is read as cp1252 rather than refused. Empty cells
are left out (so defaults apply); list fields are ``;``-separated; Compass marks come as ``gatsby_1``..``gatsby_8``.
A cell of an integer field that spells an integer is read as one, so the record schemas' strict integers (which
refuse ``156.9`` rather than truncate it) apply to a CSV exactly as to JSON.
"""

from __future__ import annotations

import contextlib
import csv
import io
from typing import Any

from flask import Request
from marshmallow import Schema, ValidationError, fields
from sqlalchemy import select

from api.context import db
from api.errors import ApiError
from models import tables as t
from models.audit import Action, record_event
from models.errors import faults_from_marshmallow
from models.repository import columns, new_row
from models.schemas import AdviserSchema, EmployerSchema, SchoolSchema

LISTS = {"sectors", "needs", "skills", "conflicts", "current_advisers", "current_cornerstones"}
INTEGERS = {
    collection: frozenset(name for name, field in schema().fields.items() if isinstance(field, fields.Integer))
    for collection, schema in (("schools", SchoolSchema), ("advisers", AdviserSchema), ("employers", EmployerSchema))
}
DFE_COLUMNS = {
    "URN": "id",
    "EstablishmentName": "name",
    "Postcode": "postcode",
    "NumberOfPupils": "pupils",
    "PercentageFSM": "pct_fsm",
}


def parse_upload(request: Request, collection: str, fmt: str) -> list[Any]:
    """The uploaded rows, from a JSON body, a CSV body or a multipart ``file`` field."""
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None:
            raise ApiError(400, "The body is not valid JSON.")
        rows = body.get(collection, body.get("records")) if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise ApiError(422, f"Send a JSON list of {collection}, or an object with a {collection!r} list.")
        return rows
    upload = request.files.get("file")
    raw = upload.read() if upload is not None else request.get_data()
    if request.mimetype not in ("text/csv", "multipart/form-data", "application/csv"):
        raise ApiError(415, "Send JSON (application/json) or CSV (text/csv, or a multipart 'file').")
    table = _csv_rows(_decode(raw))
    if fmt == "dfe":
        if collection != "schools":
            raise ApiError(422, "The DfE register format is for schools only.")
        rows = [row for row in (_dfe_row(r) for r in table) if row is not None]
    else:
        rows = [_problem_row(collection, r) for r in table]
    return [_integers(row, INTEGERS[collection]) for row in rows]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _csv_rows(text: str) -> list[dict[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        rows = list(reader)
    except csv.Error as err:
        raise ApiError(422, f"The file is not valid CSV: {err}.") from None
    if reader.fieldnames is None:
        raise ApiError(422, "The file has no header row.")
    if any(None in row for row in rows):
        line = next(i for i, row in enumerate(rows, start=2) if None in row)
        raise ApiError(422, f"Line {line} of the CSV has more cells than the header.")
    return rows


def _problem_row(collection: str, row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    gatsby = {}
    for key, value in row.items():
        key, value = (key or "").strip(), (value or "").strip()
        if not value:
            continue
        if key.startswith("gatsby_"):
            gatsby[key.removeprefix("gatsby_")] = value
        elif key in LISTS:
            out[key] = [v.strip() for v in value.split(";") if v.strip()]
        else:
            out[key] = value
    if gatsby:
        out["gatsby"] = {k: _number(v) for k, v in gatsby.items()}
    if collection == "employers" and "lat" in out and "lon" in out:
        out["sites"] = [{"lat": out.pop("lat"), "lon": out.pop("lon")}]
    return out


def _integers(row: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """The row with each integer field's cell read as an integer where it spells one ("900", "-3", a 2^70); any
    other cell ("900.5", "many") stays text, for the schema to refuse by name."""
    for name in names & row.keys():
        with contextlib.suppress(ValueError):
            row[name] = int(row[name])
    return row


def _dfe_row(row: dict[str, str]) -> dict[str, Any] | None:
    """A register row as a school, or None for a closed establishment."""
    if (row.get("EstablishmentStatus (name)") or "").strip().lower() == "closed":
        return None
    out: dict[str, Any] = {
        field: row[col].strip() for col, field in DFE_COLUMNS.items() if (row.get(col) or "").strip()
    }
    if "id" in out:
        out["id"] = f"URN{out['id']}"
    out["kind"] = _kind(row.get("TypeOfEstablishment (name)") or "")
    return out


def _kind(establishment: str) -> str:
    text = establishment.lower()
    if "special" in text:
        return "send"
    if "pupil referral" in text or "alternative provision" in text:
        return "ap"
    if any(word in text for word in ("college", "sixth form", "further education", "16 to 19")):
        return "college"
    return "mainstream"


def _number(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


PUBLISHED = ("current_advisers", "current_cornerstones")


def import_records(hub_id: str, table: Any, records: list[Any], wave: str | None = None, *, actor: str) -> dict:
    """Upsert validated records by id in the current session, record the import's event and commit; returns the
    counts. A retired record that is imported again is updated and stays retired (reinstating is its own step)."""
    existing = {r.id: r for r in db().scalars(select(table).where(table.hub_id == hub_id))}
    created = updated = 0
    for record in records:
        values = columns(record)
        if wave is not None and table is t.School:
            values["wave"] = wave
        row = existing.get(record.id)
        if row is None:
            db().add(new_row(table, hub_id, values))
            created += 1
        else:
            for key, value in values.items():
                if key in PUBLISHED and not value:
                    continue  # an import never clears published pairings: publishing a round changes them
                setattr(row, key, value)
            updated += 1
    details = {"created": created, "updated": updated, **({"wave": wave} if wave is not None else {})}
    record_event(db(), hub_id, actor, Action.RECORDS_IMPORTED, table.__tablename__, details)
    db().commit()
    return {"created": created, "updated": updated}


def validate_rows(collection: str, schema: type[Schema], rows: list[Any]) -> list[Any]:
    """Every row through the record schema; all faults, named by row and id, in one 422."""
    if not rows:
        raise ApiError(422, "The file has no records.")
    loaded, faults = [], []
    seen: dict[str, int] = {}
    for index, raw in enumerate(rows):
        try:
            record = schema().load(raw)
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
