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

from api.auth import require, visible_round
from api.visibility import IDLE_READERS, idle_partners

blp = Blueprint("idle", __name__, description="Willing volunteers the last solve gave no school, and why")
BLUEPRINTS = [blp]
REASON_WORDS = {
    "no_school_in_reach": "No school within travel distance",
    "blocked_by_rule": "Every school in reach ruled out",
    "not_enough_places": "Schools in reach need more places",
    "company_cap": "Company at its school limit",
    "schools_taken": "Schools in reach already taken",
    "sector_taken": "Sector already taken at the schools with room",
    "unassigned": "Unexplained (please report)",
    "not_reached": "Solver stopped at its time limit",
}


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


@blp.app_context_processor
def _panel() -> dict[str, Any]:
    """What api/templates/panels/idle.html reads: the list (for a Hub Lead or an admin) and the reasons in words."""
    return {"idle_partners": idle_partners, "idle_readers": IDLE_READERS, "idle_reason_words": REASON_WORDS}


@blp.route("/rounds/<int:round_id>/idle")
class RoundIdle(MethodView):
    @blp.response(200, IdleSchema(many=True))
    def get(self, round_id: int) -> list[dict[str, Any]]:
        """The willing advisers and Cornerstone Employers the last solve gave no school, each with its reason."""
        visible_round(round_id)
        require("hub_lead")
        return idle_partners(round_id)
