"""Where to recruit: ``POST /rounds/{id}/gaps`` starts a gap search job (``service.analyses.gaps``).

Body (every field optional): ``role`` ("adviser", "cornerstone" or "both"), ``capacity`` (a recruited adviser's
schools, 1-10; default the hub's most common), ``employer_capacity`` (above 0, at most 1,000), ``radius_km``
(above 0, at most 200; default the policy's), ``top`` (1-20 places per role, default 5) and ``ranking``
("sequence", each place given the recruits above it, or "independent"). Hub Leads and admins of the round's hub,
on a round that has been solved; the result is read at ``GET /jobs/{id}`` and drawn on the map with
``/ui/rounds/{id}/map.svg?gaps={job}``.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require, visible_round
from api.errors import ApiError
from api.jobs import JobSchema, WaitArgs, start_analysis
from models.schemas import MAX_ADVISER_CAPACITY, MAX_EMPLOYER_CAPACITY, MAX_GAP_PLACES, MAX_TRAVEL_KM

blp = Blueprint("gaps", __name__, description="Where to recruit advisers and Cornerstone Employers")
BLUEPRINTS = [blp]


class GapsSchema(Schema):
    role = fields.String(load_default="both", validate=validate.OneOf(["adviser", "cornerstone", "both"]))
    capacity = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ADVISER_CAPACITY),
        metadata={"description": "schools a recruited adviser takes"},
    )
    employer_capacity = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_EMPLOYER_CAPACITY, min_inclusive=False),
        metadata={"description": "a recruited Cornerstone Employer's capacity"},
    )
    radius_km = fields.Float(allow_nan=False, validate=validate.Range(min=0, max=MAX_TRAVEL_KM, min_inclusive=False))
    top = fields.Integer(strict=True, load_default=5, validate=validate.Range(min=1, max=MAX_GAP_PLACES))
    ranking = fields.String(load_default="sequence", validate=validate.OneOf(["sequence", "independent"]))


@blp.route("/rounds/<int:round_id>/gaps")
class RoundGaps(MethodView):
    @blp.arguments(GapsSchema)
    @blp.arguments(WaitArgs, location="query")
    @blp.response(202, JobSchema)
    @blp.alt_response(200, schema=JobSchema, description="the search finished within ?wait")
    def post(self, body: dict, args: dict, round_id: int) -> Any:
        """Rank the places where one recruit would cover the most schools left without a partner (Hub Leads)."""
        round_ = visible_round(round_id)
        require("hub_lead")
        if not round_.solves:
            raise ApiError(422, f"Round {round_.id} has not been solved yet: solve it before looking for gaps.")
        return start_analysis(round_, "gaps", body, args["wait"])
