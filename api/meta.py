"""Health and version: public, for load balancers and humans."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from api.context import db
from hubmatch import __version__

blp = Blueprint("meta", __name__, description="Service health and version (no token needed)")
BLUEPRINTS = [blp]


class HealthSchema(Schema):
    status = fields.String()
    database = fields.String()


class VersionSchema(Schema):
    version = fields.String()
    api = fields.String()


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict:
        """The service is up and its database answers."""
        db().execute(text("SELECT 1"))
        return {"status": "ok", "database": db().get_bind().dialect.name}


@blp.route("/version")
class Version(MethodView):
    @blp.response(200, VersionSchema)
    def get(self) -> dict:
        """The running version."""
        return {"version": __version__, "api": "1"}
