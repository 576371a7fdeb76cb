"""Hubs: admins create them; every token sees the hubs it is scoped to."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import principal, require, visible_hub
from api.context import db
from api.errors import ApiError
from models import tables as t
from models.audit import Action, record_event
from models.schemas import MAX_ID_LENGTH, MAX_NAME_LENGTH, record_id, text

blp = Blueprint("hubs", __name__, description="Careers Hubs")
BLUEPRINTS = [blp]


def _name(**kwargs: Any) -> fields.String:
    """A hub's name: one line of 1 to 200 characters."""
    return text(MAX_NAME_LENGTH, 1, **kwargs)


def _priority_sectors(**kwargs: Any) -> fields.Dict:
    """The LEP's priority sectors: one-line names, each weighted 0 to 1."""
    return fields.Dict(
        keys=text(MAX_ID_LENGTH, 1), values=fields.Float(allow_nan=False, validate=validate.Range(0, 1)), **kwargs
    )


class HubSchema(Schema):
    id = record_id(required=True)
    name = _name(required=True)
    priority_sectors = _priority_sectors(load_default=dict)


class HubPatchSchema(Schema):
    name = _name()
    priority_sectors = _priority_sectors()


@blp.route("/hubs")
class Hubs(MethodView):
    @blp.response(200, HubSchema(many=True))
    def get(self) -> list:
        """The hubs this token may see."""
        who = principal()
        query = select(t.Hub).order_by(t.Hub.id)
        if who.role != "admin":
            query = query.where(t.Hub.id == who.hub_id)
        return list(db().scalars(query))

    @blp.arguments(HubSchema)
    @blp.response(201, HubSchema)
    def post(self, body: dict) -> t.Hub:
        """Create a hub (admins)."""
        who = principal()
        if who.role != "admin":
            raise ApiError(403, "Only an admin token can create hubs.")
        if db().get(t.Hub, body["id"]) is not None:
            raise ApiError(409, f"Hub {body['id']!r} already exists.")
        hub = t.Hub(**body)
        db().add(hub)
        db().flush()
        record_event(db(), hub.id, who.name, Action.HUB_CREATED, f"hubs/{hub.id}", {"name": hub.name})
        db().commit()
        return hub


@blp.route("/hubs/<hub_id>")
class HubItem(MethodView):
    @blp.response(200, HubSchema)
    def get(self, hub_id: str) -> t.Hub:
        """One hub."""
        return visible_hub(db(), hub_id)

    @blp.arguments(HubPatchSchema)
    @blp.response(200, HubSchema)
    def patch(self, body: dict, hub_id: str) -> t.Hub:
        """Rename a hub or change its priority sectors (admins and its Hub Lead)."""
        hub = visible_hub(db(), hub_id)
        who = require("hub_lead")
        changed = sorted(k for k, v in body.items() if getattr(hub, k) != v)
        for key, value in body.items():
            setattr(hub, key, value)
        if changed:
            record_event(db(), hub_id, who.name, Action.HUB_UPDATED, f"hubs/{hub_id}", {"changed": changed})
        db().commit()
        return hub
