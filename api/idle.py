"""The volunteers a round's last solve gave no school: ``GET /rounds/{id}/idle``, for the hub's Hub Lead and admins.

Idle partners are a recruiting and relationship matter (who to call before they hear nothing), so the hub's Hub
Lead reads them, not every coordinator: other tokens of the hub get 403, tokens of another hub 404 (``api.auth``).
An adviser's nearest school's exact distance is location data: non-admins read its band only.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from api.auth import principal, require, visible_round
from api.context import db
from models import tables as t
from models.privacy import ADVISER, sees_homes

blp = Blueprint("idle", __name__, description="Willing volunteers the last solve gave no school, and why")
BLUEPRINTS = [blp]


class IdleSchema(Schema):
    partner_id = fields.String()
    role = fields.String(metadata={"description": "adviser or cornerstone"})
    reason = fields.String(
        metadata={
            "description": "no_school_in_reach, blocked_by_rule, not_enough_places, company_cap, schools_taken, "
            "sector_taken (docs/problem-format.md)"
        }
    )
    detail = fields.String()
    distance_km = fields.Float(
        allow_none=True, metadata={"description": "the nearest school when none is in reach: exact to admins; null "
                                   "to others for an adviser"}
    )
    distance_band = fields.String(allow_none=True, metadata={"description": "that distance's band, from the "
                                                             "adviser's area (models.privacy)"})


def idle_view(row: t.IdlePartner, admin: bool) -> dict[str, Any]:
    """One idle partner as the caller may read it."""
    exact = admin or row.role != ADVISER
    return {
        "partner_id": row.partner_id,
        "role": row.role,
        "reason": row.reason,
        "detail": row.detail,
        "distance_km": row.distance_km if exact else None,
        "distance_band": row.distance_band,
    }


@blp.route("/rounds/<int:round_id>/idle")
class RoundIdle(MethodView):
    @blp.response(200, IdleSchema(many=True))
    def get(self, round_id: int) -> list[dict[str, Any]]:
        """The willing advisers and Cornerstone Employers the last solve gave no school, each with its reason."""
        visible_round(round_id)
        require("hub_lead")
        admin = sees_homes(principal().role)
        rows = db().scalars(select(t.IdlePartner).where(t.IdlePartner.round_id == round_id).order_by(t.IdlePartner.id))
        return [idle_view(row, admin) for row in rows]
