"""The audit log, read-only: a hub's events for its Hub Lead and admins, every event (tokens too) for admins.

Events are written by ``models.audit.record_event`` in the transaction of the change they record; there is no way to
change or delete one through the API. Newest first, paged, optionally filtered by action.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, select

from api.auth import require, require_admin, visible_hub
from api.context import db
from models import tables as t
from models.audit import Action

blp = Blueprint("audit", __name__, description="The audit log of every change")
BLUEPRINTS = [blp]

NO_HUB = "-"


class AuditArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    action = fields.String(validate=validate.OneOf([a.value for a in Action]))


class AdminAuditArgs(AuditArgs):
    hub = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": f"one hub's events; '{NO_HUB}' for events outside any hub (tokens)"},
    )


class EventSchema(Schema):
    id = fields.Integer()
    hub_id = fields.String(allow_none=True)
    actor = fields.String()
    action = fields.String()
    subject = fields.String()
    details = fields.Dict()
    at = fields.DateTime()


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


@blp.route("/hubs/<hub_id>/audit")
class HubAudit(MethodView):
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args: dict, hub_id: str) -> dict:
        """The hub's events, newest first (its Hub Lead and admins)."""
        visible_hub(db(), hub_id)
        require("hub_lead")
        return _page(select(t.Event).where(t.Event.hub_id == hub_id), args)


@blp.route("/audit")
class AllAudit(MethodView):
    @blp.arguments(AdminAuditArgs, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args: dict) -> dict:
        """Every event, newest first, including token events, which belong to no hub (admins)."""
        require_admin()
        query = select(t.Event)
        if "hub" in args:
            hub = args["hub"]
            query = query.where(t.Event.hub_id.is_(None) if hub == NO_HUB else t.Event.hub_id == hub)
        return _page(query, args)


def _page(query: Select, args: dict[str, Any]) -> dict[str, Any]:
    if "action" in args:
        query = query.where(t.Event.action == args["action"])
    total = db().scalar(select(func.count()).select_from(query.subquery()))
    rows = db().scalars(
        query.order_by(t.Event.id.desc()).offset((args["page"] - 1) * args["per_page"]).limit(args["per_page"])
    )
    return {"items": list(rows), "page": args["page"], "per_page": args["per_page"], "total": total}
