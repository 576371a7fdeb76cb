"""Which policy: ``POST /rounds/{id}/compare`` starts a comparison job (``service.analyses.compare``).

Body: ``{"policy": {...}}``, a partial policy merged over the round's (the round against itself with the policy
changed: both solved in the job), or ``{"other_round": id}`` (the round's current pairings against another round's
of the same hub: nothing solved). Hub Leads and admins of the round's hub; the job's result is read at
``GET /jobs/{id}``, advisers' travel as bands for everyone but admins.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validates_schema

from api.auth import require, visible_round
from api.errors import ApiError
from api.jobs import JobSchema, WaitArgs, start_analysis
from models import tables as t
from models.policies import changed_policy
from models.schemas import ROW_ID, PolicySchema

blp = Blueprint("compare", __name__, description="Compare a round with a policy change or with another round")
BLUEPRINTS = [blp]


class CompareSchema(Schema):
    policy = fields.Dict(metadata={"description": "a partial policy merged over the round's, e.g. "
                                                  '{"default_max_travel_km": 40}'})
    other_round = fields.Integer(strict=True, validate=ROW_ID,
                                 metadata={"description": "another round of the hub, compared by current pairings"})

    @validates_schema
    def one_of(self, data: dict, **_: Any) -> None:
        if ("policy" in data) == ("other_round" in data):
            raise ValidationError("Give either a policy change or another round to compare with.", "policy")


@blp.route("/rounds/<int:round_id>/compare")
class RoundCompare(MethodView):
    @blp.arguments(CompareSchema)
    @blp.arguments(WaitArgs, location="query")
    @blp.response(202, JobSchema)
    @blp.alt_response(200, schema=JobSchema, description="the comparison finished within ?wait")
    def post(self, body: dict, args: dict, round_id: int) -> Any:
        """Compare the round with a policy change, or with another round of its hub (Hub Leads), in a worker."""
        round_ = visible_round(round_id)
        require("hub_lead")
        if "policy" in body:
            _check_change(round_, body["policy"])
        else:
            _check_other(round_, body["other_round"])
        return start_analysis(round_, "compare", body, args["wait"])


def _check_change(round_: t.Round, change: dict[str, Any]) -> None:
    """A change that is a valid policy over the round's and changes something (a bad one is a 422 naming the
    field, from the ProblemError ``changed_policy`` raises)."""
    policy = PolicySchema().load(round_.policy)
    if changed_policy(policy, change) == policy:
        raise ApiError(422, "The policy change leaves the round's policy as it is: nothing to compare.")


def _check_other(round_: t.Round, other_id: int) -> None:
    """Another round of the same hub (another hub's is no round at all: 404), both with pairings to compare."""
    other = visible_round(other_id)
    if other.hub_id != round_.hub_id:
        raise ApiError(404, f"No round {other_id}.")
    if other.id == round_.id:
        raise ApiError(422, "A round compared with itself changes nothing; give another round or a policy change.")
    for which in (round_, other):
        if not which.solves:
            raise ApiError(422, f"Round {which.id} has no pairings yet: solve it before comparing.")
