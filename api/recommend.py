"""Where a newcomer fits: ``POST /rounds/{id}/recommend`` runs the ``recommend`` analysis of a proposed or published
round on the solve queue (``service.analyses.recommend``) and answers with its job.

The newcomer's record is checked here by the same schema as a record import of its collection, and its id must be
new to the hub (retired records included: the newcomer is imported under that id once placed), so a bad request
is a 422 naming the field before any job exists.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import require, visible_round
from api.context import db
from api.jobs import JobSchema, WaitArgs, start_analysis
from models import Fault, ProblemError
from models import tables as t
from models.newcomers import NEWCOMER_KINDS, load_newcomer
from models.schemas import MAX_PARTNERS_PER_SCHOOL

blp = Blueprint("recommend", __name__, description="Where a newcomer adviser, employer or school fits mid-term")
BLUEPRINTS = [blp]
MAX_TOP = 10 * MAX_PARTNERS_PER_SCHOOL
TABLES = {"adviser": t.Adviser, "employer": t.Employer, "school": t.School}


class RecommendSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(NEWCOMER_KINDS))
    record = fields.Dict(required=True, metadata={"description": "the newcomer's record, as a record import takes it"})
    top = fields.Integer(
        load_default=3,
        strict=True,
        validate=validate.Range(1, MAX_TOP),
        metadata={"description": "recommendations per role"},
    )


@blp.route("/rounds/<int:round_id>/recommend")
class RoundRecommend(MethodView):
    @blp.arguments(RecommendSchema)
    @blp.arguments(WaitArgs, location="query")
    @blp.response(202, JobSchema)
    @blp.alt_response(200, schema=JobSchema, description="the analysis finished within ?wait")
    def post(self, body: dict, args: dict, round_id: int) -> Any:
        """The best placements of a newcomer in the round (Hub Leads), each with the chain of changes it needs,
        found from the round's pairings without re-solving it (docs/problem-format.md, "Newcomers")."""
        round_ = visible_round(round_id)
        require("hub_lead")
        _check_record(round_.hub_id, body["kind"], body["record"])
        return start_analysis(round_, "recommend", body, args["wait"])


def _check_record(hub_id: str, kind: str, record: dict[str, Any]) -> None:
    """422 for a record its import would refuse, whose id a record of the hub (retired or not) already has, or
    whose conflicts name a school the hub does not have."""
    newcomer = load_newcomer(kind, record, None)
    name = f"{kind} ({newcomer.id})"
    for table in (t.School,) if kind == "school" else (t.Adviser, t.Employer):
        if db().scalar(select(table.id).where(table.hub_id == hub_id, table.id == newcomer.id)) is not None:
            raise ProblemError(
                [Fault(name, "id", "Id already used by a record of the hub; a newcomer needs a new id.")]
            )
    conflicts = list(getattr(newcomer, "conflicts", ()))
    known = set(db().scalars(select(t.School.id).where(t.School.hub_id == hub_id, t.School.id.in_(conflicts))))
    unknown = [c for c in conflicts if c not in known]
    if unknown:
        raise ProblemError([Fault(name, "conflicts", f"Unknown school id {unknown[0]!r}.")])
