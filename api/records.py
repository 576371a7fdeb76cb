"""Schools, Enterprise Advisers and Cornerstone Employers of a hub: list, read, create, replace, bulk import.

The three share one blueprint factory because they differ only in their schema, table and filters. Records are
validated by the same marshmallow schemas as the problem format (``models.schemas``), so whatever the API accepts
a round can solve. Advisers' home coordinates are personal data: only admins get them back.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, or_, select

from api.auth import principal, require, visible_hub
from api.context import db
from api.errors import ApiError
from api.imports import parse_upload
from models import tables as t
from models.errors import faults_from_marshmallow
from models.repository import FIELDS, columns, new_row
from models.schemas import (
    MAX_ID_LENGTH,
    MAX_PAGE,
    MAX_PER_PAGE,
    AdviserSchema,
    EmployerSchema,
    SchoolSchema,
    text,
)

PRIVATE = {"advisers": ("lat", "lon")}
PUBLISHED = ("current_advisers", "current_cornerstones")


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))  # offset fits 64 bits
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    q = text(100, metadata={"description": "id or name contains"})


class ImportArgs(Schema):
    format = fields.String(
        load_default="hubmatch",
        validate=validate.OneOf(["hubmatch", "dfe"]),
        metadata={"description": "'dfe': the DfE school register's columns (schools only)"},
    )
    wave = text(MAX_ID_LENGTH, 1, metadata={"description": "tag imported schools"})


class ImportResultSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()


def _out_schema(collection: str) -> type[Schema]:
    """The response schema: the problem-format fields, plus the hub and (schools) the wave."""
    common: dict[str, Any] = {name: fields.Raw() for name in FIELDS[collection]}
    common["hub_id"] = fields.String()
    if collection == "schools":
        common["wave"] = fields.String(allow_none=True)
    return Schema.from_dict(common, name=f"{collection.title()}Out")


def _page_schema(item: type[Schema], collection: str) -> type[Schema]:
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "total": fields.Integer(),
        },
        name=f"{collection.title()}Page",
    )


def record_blueprint(collection: str, schema: type[Schema], table: Any, filters: tuple[str, ...]) -> Blueprint:
    """The blueprint of one record collection of a hub."""
    blp = Blueprint(
        collection, __name__, url_prefix=f"/hubs/<hub_id>/{collection}", description=f"The {collection} of a hub"
    )
    out = _out_schema(collection)
    page_args = Schema.from_dict(
        {**PageArgs().fields, **{f: text() for f in filters}}, name=f"{collection.title()}Args"
    )

    @blp.route("")
    class Collection(MethodView):
        @blp.arguments(page_args, location="query")
        @blp.response(200, _page_schema(out, collection))
        def get(self, args: dict, hub_id: str) -> dict:
            """List with paging; filter by ``q`` (id or name contains) and exact fields."""
            visible_hub(db(), hub_id)
            query = select(table).where(table.hub_id == hub_id)
            if args.get("q"):
                like = "%" + args["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                query = query.where(or_(table.id.ilike(like, escape="\\"), table.name.ilike(like, escape="\\")))
            for name in filters:
                if name in args:
                    query = query.where(_filter(table, name, args[name]))
            total = db().scalar(select(func.count()).select_from(query.subquery()))
            rows = db().scalars(
                query.order_by(table.id).offset((args["page"] - 1) * args["per_page"]).limit(args["per_page"])
            )
            return {
                "items": [_public(collection, r) for r in rows],
                "page": args["page"],
                "per_page": args["per_page"],
                "total": total,
            }

        @blp.arguments(schema)
        @blp.response(201, out)
        def post(self, record: Any, hub_id: str) -> dict:
            """Create one record (Hub Leads and admins); its id must be new in the hub."""
            visible_hub(db(), hub_id)
            require("hub_lead")
            if _find(table, hub_id, record.id) is not None:
                raise ApiError(409, f"{collection[:-1].title()} {record.id!r} already exists in hub {hub_id!r}.")
            row = new_row(table, hub_id, columns(record))
            db().add(row)
            db().commit()
            return _public(collection, row)

    @blp.route("/<record_id>")
    class Item(MethodView):
        @blp.response(200, out)
        def get(self, hub_id: str, record_id: str) -> dict:
            """One record."""
            visible_hub(db(), hub_id)
            return _public(collection, _get(table, hub_id, record_id))

        @blp.arguments(schema)
        @blp.response(200, out)
        def put(self, record: Any, hub_id: str, record_id: str) -> dict:
            """Replace a record (Hub Leads and admins); the body's id must match the URL's."""
            visible_hub(db(), hub_id)
            require("hub_lead")
            row = _get(table, hub_id, record_id)
            if record.id != record_id:
                raise ApiError(422, "The body's id must match the URL's.", details={"id": [record.id]})
            for key, value in columns(record).items():
                setattr(row, key, value)
            db().commit()
            return _public(collection, row)

    @blp.route("/import")
    class Import(MethodView):
        @blp.arguments(ImportArgs, location="query")
        @blp.response(200, ImportResultSchema)
        def post(self, args: dict, hub_id: str) -> dict:
            """Import a JSON list or a CSV file as a whole: every row valid, or 422 naming each bad row and field
            and nothing written. Existing ids are updated, new ones created, in one transaction."""
            visible_hub(db(), hub_id)
            require("hub_lead")
            rows = parse_upload(request, collection, args["format"])
            records = _validate_rows(collection, schema, rows)
            return import_records(hub_id, table, records, args.get("wave"))

    return blp


def import_records(hub_id: str, table: Any, records: list[Any], wave: str | None = None) -> dict:
    """Upsert validated records by id in the current session and commit; returns the counts."""
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
    db().commit()
    return {"created": created, "updated": updated}


def _validate_rows(collection: str, schema: type[Schema], rows: list[Any]) -> list[Any]:
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


def _public(collection: str, row: Any) -> dict[str, Any]:
    """A row as the API shows it: advisers' coordinates only to admins."""
    data = {name: getattr(row, name) for name in FIELDS[collection]}
    data["hub_id"] = row.hub_id
    if collection == "schools":
        data["wave"] = row.wave
    if principal().role != "admin":
        for name in PRIVATE.get(collection, ()):
            data.pop(name, None)
    return data


def _filter(table: Any, name: str, value: str) -> Any:
    column = getattr(table, name)
    if name == "unavailable":
        return column.is_(value.lower() in ("1", "true", "yes"))
    return column == value


def _find(table: Any, hub_id: str, record_id: str) -> Any:
    return db().scalar(select(table).where(table.hub_id == hub_id, table.id == record_id))


def _get(table: Any, hub_id: str, record_id: str) -> Any:
    row = _find(table, hub_id, record_id)
    if row is None:
        raise ApiError(404, f"No {table.__tablename__[:-1]} {record_id!r} in hub {hub_id!r}.")
    return row


BLUEPRINTS = [
    record_blueprint("schools", SchoolSchema, t.School, ("kind", "wave", "postcode")),
    record_blueprint("advisers", AdviserSchema, t.Adviser, ("company", "unavailable")),
    record_blueprint("employers", EmployerSchema, t.Employer, ()),
]
