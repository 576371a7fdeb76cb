"""Schools, Enterprise Advisers and Cornerstone Employers of a hub: list, read, create, replace, bulk import, retire,
reinstate, delete.

The three share one blueprint factory because they differ only in their schema, table and filters. Records are
validated by the same marshmallow schemas as the problem format (``models.schemas``), so whatever the API accepts
a round can solve. Advisers' home coordinates are personal data: only admins get them back, so a PUT that leaves
the position out (no lat, lon or postcode) keeps the stored one, and a Hub Lead can PUT back what it read.

A record that leaves (a school closes, an adviser stops volunteering, an employer withdraws) is retired: no new
solve sees it, lists hide it unless ``?retired=true``, and its row stays for the rounds that name it. Only a record
with no history (never proposed, never anyone's current partner) can be deleted. Every change is an audit event.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import delete as sa_delete
from sqlalchemy import func, or_, select

from api.auth import principal, require, visible_hub
from api.context import db
from api.errors import ApiError
from api.imports import import_upload, parse_upload
from models import tables as t
from models.audit import Action, changed_fields, record_event
from models.postcodes import normalise as normalise_postcode
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
LOCATED = ("schools", "advisers")  # records with lat, lon (or a postcode) of their own


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))  # offset fits 64 bits
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    q = text(100, metadata={"description": "id or name contains"})
    retired = fields.Boolean(load_default=False, metadata={"description": "true: retired records too"})


class RetireSchema(Schema):
    reason = text(200, 1, load_default=None, metadata={"description": "kept in the audit log"})


class ImportArgs(Schema):
    format = fields.String(
        load_default="hubmatch",
        validate=validate.OneOf(["hubmatch", "dfe"]),
        metadata={"description": "'dfe': the DfE school register's columns (schools only)"},
    )
    wave = text(MAX_ID_LENGTH, 1, metadata={"description": "tag imported schools"})
    primary = fields.String(
        load_default="refuse",
        validate=validate.OneOf(["refuse", "admit"]),
        metadata={"description": "DfE register: 'admit' imports primary schools too (refused by default)"},
    )


class NoteSchema(Schema):
    place = fields.String(metadata={"description": "where the row is in the file: 'line 14' or 'Schools!14:14'"})
    urn = fields.String()
    reason = fields.String()


class ImportResultSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    skipped = fields.List(fields.Nested(NoteSchema), metadata={"description": "register rows left out, and why"})
    flagged = fields.List(fields.Nested(NoteSchema), metadata={"description": "imported, but worth a look"})


def _out_schema(collection: str) -> type[Schema]:
    """The response schema: the problem-format fields, plus the hub and (schools) the wave."""
    common: dict[str, Any] = {name: fields.Raw() for name in FIELDS[collection]}
    common["hub_id"] = fields.String()
    if collection == "schools":
        common["wave"] = fields.String(allow_none=True)
    common["retired_at"] = fields.DateTime(allow_none=True, metadata={"description": "None while active; read-only"})
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
    put_schema = _put_schema(collection, schema, table)
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
            if not args["retired"]:
                query = query.where(table.retired_at.is_(None))
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
            who = require("hub_lead")
            if (found := _find(table, hub_id, record.id)) is not None:
                retired = " (retired: reinstate it)" if found.retired_at is not None else ""
                raise ApiError(
                    409, f"{collection[:-1].title()} {record.id!r} already exists in hub {hub_id!r}{retired}."
                )
            row = new_row(table, hub_id, columns(record))
            db().add(row)
            _event(hub_id, who.name, Action.RECORD_CREATED, collection, record.id)
            db().commit()
            return _public(collection, row)

    @blp.route("/<record_id>")
    class Item(MethodView):
        @blp.response(200, out)
        def get(self, hub_id: str, record_id: str) -> dict:
            """One record."""
            visible_hub(db(), hub_id)
            return _public(collection, _get(table, hub_id, record_id))

        @blp.arguments(put_schema)
        @blp.response(200, out)
        def put(self, record: Any, hub_id: str, record_id: str) -> dict:
            """Replace a record (Hub Leads and admins); the body's id must match the URL's. What a GET returned
            can be sent back: read-only fields (``hub_id``, ``wave``, ``retired_at``) may be left as they were, and
            a body without lat, lon and postcode keeps the stored position (hidden from non-admins)."""
            visible_hub(db(), hub_id)
            who = require("hub_lead")
            row = _get(table, hub_id, record_id)
            if record.id != record_id:
                raise ApiError(422, "The body's id must match the URL's.", details={"id": [record.id]})
            values = columns(record)
            changed = changed_fields(row, values)
            for key, value in values.items():
                setattr(row, key, value)
            if changed:
                _event(hub_id, who.name, Action.RECORD_UPDATED, collection, record_id, {"changed": changed})
            db().commit()
            return _public(collection, row)

        @blp.response(204)
        def delete(self, hub_id: str, record_id: str) -> None:
            """Delete a record that has no history (Hub Leads and admins); 409 naming its history otherwise, when
            it should be retired instead."""
            visible_hub(db(), hub_id)
            who = require("hub_lead")
            row = _get(table, hub_id, record_id)
            if reasons := history(collection, hub_id, record_id):
                raise ApiError(
                    409,
                    f"{collection[:-1].title()} {record_id!r} has history ({'; '.join(reasons)}): retire it instead.",
                    details={"history": reasons},
                )
            db().delete(row)
            db().execute(sa_delete(t.Contact).where(t.Contact.hub_id == hub_id, t.Contact.kind == collection[:-1],
                                                    t.Contact.record_id == record_id))  # nor keep their address
            _event(hub_id, who.name, Action.RECORD_DELETED, collection, record_id)
            db().commit()

    @blp.route("/<record_id>/retire")
    class Retire(MethodView):
        @blp.arguments(RetireSchema)
        @blp.response(200, out)
        def post(self, body: dict, hub_id: str, record_id: str) -> dict:
            """Retire a record that left (Hub Leads and admins): no new solve pairs it, its history stays readable.
            A retired adviser's or employer's published pairings end at the next round, which pairs the school anew."""
            visible_hub(db(), hub_id)
            who = require("hub_lead")
            row = _get(table, hub_id, record_id)
            if row.retired_at is not None:
                raise ApiError(409, f"{collection[:-1].title()} {record_id!r} is already retired.")
            row.retired_at = t.now()
            details = {"reason": body["reason"]} if body["reason"] else {}
            _event(hub_id, who.name, Action.RECORD_RETIRED, collection, record_id, details)
            db().commit()
            return _public(collection, row)

    @blp.route("/<record_id>/reinstate")
    class Reinstate(MethodView):
        @blp.response(200, out)
        def post(self, hub_id: str, record_id: str) -> dict:
            """Make a retired record active again (Hub Leads and admins): the next solve may pair it."""
            visible_hub(db(), hub_id)
            who = require("hub_lead")
            row = _get(table, hub_id, record_id)
            if row.retired_at is None:
                raise ApiError(409, f"{collection[:-1].title()} {record_id!r} is not retired.")
            row.retired_at = None
            _event(hub_id, who.name, Action.RECORD_REINSTATED, collection, record_id)
            db().commit()
            return _public(collection, row)

    @blp.route("/import")
    class Import(MethodView):
        @blp.arguments(ImportArgs, location="query")
        @blp.response(200, ImportResultSchema)
        def post(self, args: dict, hub_id: str) -> dict:
            """Import a JSON list, a CSV file or an Excel workbook (.xlsx) as a whole: every row valid, or 422
            naming each bad row (``line 14``, ``Schools!D14``) and field, and nothing written. Existing ids are
            updated, new ones created, in one transaction. Uploads up to 64 MB (docs/data.md)."""
            visible_hub(db(), hub_id)
            who = require("hub_lead")
            upload = parse_upload(request, collection, args["format"], admit_primary=args["primary"] == "admit")
            return import_upload(hub_id, table, upload, args.get("wave"), actor=who.name)

    return blp


def _public(collection: str, row: Any) -> dict[str, Any]:
    """A row as the API shows it: advisers' coordinates only to admins."""
    data = {name: getattr(row, name) for name in FIELDS[collection]}
    data["hub_id"] = row.hub_id
    if collection == "schools":
        data["wave"] = row.wave
    data["retired_at"] = row.retired_at
    if principal().role != "admin":
        for name in PRIVATE.get(collection, ()):
            data.pop(name, None)
    return data


def _put_schema(collection: str, schema: type[Schema], table: Any) -> type[Schema]:
    """The record schema of a PUT: the body may be what a GET of the record returned (see ``as_written``)."""

    def _as_read(self: Schema, data: Any, **_: Any) -> Any:
        view = request.view_args or {}
        row = _find(table, view.get("hub_id", ""), view.get("record_id", ""))
        return as_written(collection, row, data) if row is not None and isinstance(data, dict) else data

    return type(f"{collection.title()}PutSchema", (schema,), {"_as_read": pre_load(_as_read)})


def as_written(collection: str, row: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A PUT body as the record schema takes it: read-only fields that still hold the stored value are dropped
    (any other value is refused, naming the field), and a body without a position gets the stored one."""
    data = dict(data)
    shown = _read_only(collection, row)
    for name in [n for n in shown if n in data]:
        if data.pop(name) != shown[name]:
            raise ValidationError(f"Read-only: it is {shown[name]!r} and cannot be changed here.", name)
    if collection in LOCATED and not any(data.get(k) is not None for k in ("lat", "lon", "postcode")):
        data["lat"], data["lon"] = row.lat, row.lon
    return data


def _read_only(collection: str, row: Any) -> dict[str, Any]:
    """The fields a GET shows that a PUT cannot change, as the GET shows them."""
    shown = {"hub_id": row.hub_id, "retired_at": row.retired_at.isoformat() if row.retired_at else None}
    if collection == "schools":
        shown["wave"] = row.wave
    return shown


def history(collection: str, hub_id: str, record_id: str) -> list[str]:
    """Why a record cannot simply be deleted: the rounds that proposed it and the schools it is paired with now."""
    reasons = []
    column = t.Proposal.school_id if collection == "schools" else t.Proposal.partner_id
    terms = list(
        db().scalars(
            select(t.Round.term)
            .join(t.Proposal, t.Proposal.round_id == t.Round.id)
            .where(t.Round.hub_id == hub_id, column == record_id)
            .distinct()
            .order_by(t.Round.term)
        )
    )
    if terms:
        reasons.append("proposed in round(s) " + ", ".join(terms))
    if collection == "schools":
        if _get(t.School, hub_id, record_id).pairings:
            reasons.append("has published pairings")
    else:
        paired = list(db().scalars(
            select(t.School.id).join(t.Pairing, t.Pairing.school_pk == t.School.pk)
            .where(t.Pairing.hub_id == hub_id, t.Pairing.partner_id == record_id).order_by(t.School.id)
        ))
        if paired:
            reasons.append("the current partner of " + ", ".join(paired))
    return reasons


def _event(hub_id: str, actor: str, action: Action, collection: str, record_id: str,
           details: dict[str, Any] | None = None) -> None:
    record_event(db(), hub_id, actor, action, f"{collection}/{record_id}", details)


def _filter(table: Any, name: str, value: str) -> Any:
    column = getattr(table, name)
    if name == "postcode":
        return column == (normalise_postcode(value) or value)  # stored in its one written form
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
