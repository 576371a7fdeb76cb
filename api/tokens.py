"""API tokens (admins only): list them, create one (its secret is shown once), revoke one.

Revoking keeps the row (its name is the actor of past decisions and events) and takes effect on the next request
in every server process: tokens are looked up in the database on every request (see ``api.auth``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from api.auth import ROLES, TokenError, issue_token, require_admin, revoke_token, token_details
from api.context import db
from api.errors import ApiError
from models import tables as t
from models.audit import Action, record_event

blp = Blueprint("tokens", __name__, description="API tokens (admins)")
BLUEPRINTS = [blp]


class TokenSchema(Schema):
    """A token as listed: never its secret (only its digest is stored)."""

    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    hub_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked = fields.Boolean()
    revoked_at = fields.DateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(metadata={"description": "the secret: shown in this reply only, never again"})


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    hub_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    expires_at = fields.AwareDateTime(load_default=None, metadata={"description": "with its UTC offset"})
    expires_in_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3650))

    @validates_schema
    def _one_expiry(self, data: dict, **_: Any) -> None:
        if data.get("expires_at") is not None and data.get("expires_in_days") is not None:
            raise ValidationError("Give expires_at or expires_in_days, not both.", "expires_in_days")


def token_view(row: t.Token) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TokenSchema().fields}


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.response(200, TokenSchema(many=True))
    def get(self) -> list:
        """Every token, oldest first: name, role, hub, created, expiry, revocation (admins)."""
        require_admin()
        return [token_view(r) for r in db().scalars(select(t.Token).order_by(t.Token.id))]

    @blp.arguments(TokenCreateSchema)
    @blp.response(201, NewTokenSchema)
    def post(self, body: dict) -> dict:
        """Create a token (admins); the reply holds its secret, which is never shown again."""
        who = require_admin()
        expires_at = body["expires_at"]
        if body["expires_in_days"] is not None:
            expires_at = t.now() + timedelta(days=body["expires_in_days"])
        try:
            row, secret = issue_token(db(), body["name"], body["role"], body["hub_id"], expires_at)
        except TokenError as err:
            raise ApiError(422, f"Token {body['name']!r}: {err}.", details={err.field: [str(err)]}) from None
        record_event(db(), None, who.name, Action.TOKEN_CREATED, f"tokens/{row.id}", token_details(row))
        db().commit()
        return {**token_view(row), "token": secret}


@blp.route("/tokens/<int:token_id>/revoke")
class TokenRevoke(MethodView):
    @blp.response(200, TokenSchema)
    def post(self, token_id: int) -> dict:
        """Revoke a token (admins): every server process refuses it from its next request on."""
        who = require_admin()
        row = db().get(t.Token, token_id)
        if row is None:
            raise ApiError(404, f"No token {token_id}.")
        try:
            revoke_token(row)
        except TokenError as err:
            raise ApiError(409, f"Token {token_id} ({row.name}) is already revoked.") from err
        record_event(db(), None, who.name, Action.TOKEN_REVOKED, f"tokens/{row.id}", token_details(row))
        db().commit()
        return token_view(row)

