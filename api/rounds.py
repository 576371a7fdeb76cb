"""Rounds (one term's matching for a hub), their solve jobs, publishing, and waves of new schools.

A solve is a job on the solve queue (``service.jobs``), run by a worker (``hubmatch worker``): ``POST
/rounds/{id}/solve`` answers 202 with the job's URL, or, with ``?wait=S`` for a hub-sized round, waits up to S seconds
and answers 200 with the finished job.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from api.auth import principal, require, visible_hub, visible_round
from api.context import db
from api.errors import ApiError
from api.imports import import_records, validate_rows
from api.jobs import JobSchema, WaitArgs, job_view, start_solve
from models import tables as t
from models.audit import Action, record_event
from models.domain import Policy
from models.lifecycle import ProposalState, RoundState, editable, move_round
from models.policies import policy_dict
from models.privacy import coarse_summary, sees_homes
from models.repository import publish
from models.schemas import PolicySchema, SchoolSchema

blp = Blueprint("rounds", __name__, description="Matching rounds, solve jobs, publishing and waves")
BLUEPRINTS = [blp]

TERM = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$", error="A term looks like '2026-spring'.")


class RoundCreateSchema(Schema):
    term = fields.String(required=True, validate=TERM)
    policy = fields.Nested(
        PolicySchema,
        metadata={"description": "stored in full (the defaults of its day); default: the hub's last round's policy"},
    )
    keep_current = fields.Boolean(
        load_default=False, metadata={"description": "lock the hub's published pairings (a wave that moves nobody)"}
    )


class RoundPatchSchema(Schema):
    policy = fields.Nested(PolicySchema, required=True)


class RoundSchema(Schema):
    id = fields.Integer()
    hub_id = fields.String()
    term = fields.String()
    policy = fields.Dict()
    keep_current = fields.Boolean()
    state = fields.String(metadata={"description": "draft, solving, proposed, published"})
    solves = fields.Integer()
    summary = fields.Dict()
    proposals = fields.Dict(metadata={"description": "count of proposals by state"})
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)


class WaveSchema(Schema):
    wave = fields.String(required=True, validate=TERM)
    schools = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1))
    term = fields.String(validate=TERM, metadata={"description": "the round to create; default wave-<wave>"})
    allow_moves = fields.Boolean(
        load_default=False,
        metadata={"description": "false: published pairings are locked; true: kept only where they pay (continuity)"},
    )
    policy = fields.Nested(PolicySchema, metadata={"description": "default: the hub's latest round's policy"})


class UnmatchedSchema(Schema):
    school_id = fields.String()
    role = fields.String()
    reason = fields.String()
    detail = fields.String()


class DecisionLogSchema(Schema):
    id = fields.Integer()
    proposal_id = fields.Integer()
    school_id = fields.String()
    partner_id = fields.String()
    role = fields.String()
    action = fields.String()
    reason = fields.String(allow_none=True)
    actor = fields.String()
    at = fields.DateTime()


def round_view(round_: t.Round) -> dict[str, Any]:
    counts = dict(
        db()
        .execute(
            select(t.Proposal.state, func.count()).where(t.Proposal.round_id == round_.id).group_by(t.Proposal.state)
        )
        .all()
    )
    view = {**{c.key: getattr(round_, c.key) for c in t.Round.__table__.columns}, "proposals": counts}
    return view if sees_homes(principal().role) else {**view, "summary": coarse_summary(round_.summary)}


def _policy_dict(policy: Any) -> dict[str, Any]:
    if isinstance(policy, Policy):
        return policy_dict(policy)
    return dict(policy)


@blp.route("/hubs/<hub_id>/rounds")
class HubRounds(MethodView):
    @blp.response(200, RoundSchema(many=True))
    def get(self, hub_id: str) -> list:
        """The hub's rounds, newest first."""
        visible_hub(db(), hub_id)
        rows = db().scalars(select(t.Round).where(t.Round.hub_id == hub_id).order_by(t.Round.id.desc()))
        return [round_view(r) for r in rows]

    @blp.arguments(RoundCreateSchema)
    @blp.response(201, RoundSchema)
    def post(self, body: dict, hub_id: str) -> dict:
        """Create a round for a term with its policy (Hub Leads)."""
        visible_hub(db(), hub_id)
        who = require("hub_lead")
        if db().scalar(select(t.Round).where(t.Round.hub_id == hub_id, t.Round.term == body["term"])):
            raise ApiError(409, f"Hub {hub_id!r} already has a round for {body['term']!r}.")
        round_ = t.Round(
            hub_id=hub_id,
            term=body["term"],
            policy=_policy_dict(body.get("policy") or _latest_policy(hub_id)),
            keep_current=body["keep_current"],
            created_by=who.name,
        )
        db().add(round_)
        db().flush()
        record_event(db(), hub_id, who.name, Action.ROUND_CREATED, f"rounds/{round_.id}", {"term": round_.term})
        db().commit()
        return round_view(round_)


@blp.route("/rounds/<int:round_id>")
class RoundItem(MethodView):
    @blp.response(200, RoundSchema)
    def get(self, round_id: int) -> dict:
        """A round with its state, the summary of its last solve and its proposals by state."""
        return round_view(visible_round(round_id))

    @blp.arguments(RoundPatchSchema)
    @blp.response(200, RoundSchema)
    def patch(self, body: dict, round_id: int) -> dict:
        """Change the policy of a round that is not solving or published (Hub Leads)."""
        round_ = visible_round(round_id)
        who = require("hub_lead")
        editable(round_)
        old, new = round_.policy, _policy_dict(body["policy"])
        round_.policy = new
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            record_event(
                db(), round_.hub_id, who.name, Action.ROUND_POLICY_CHANGED, f"rounds/{round_id}", {"changed": changed}
            )
        db().commit()
        return round_view(round_)


@blp.route("/rounds/<int:round_id>/solve")
class RoundSolve(MethodView):
    @blp.arguments(WaitArgs, location="query")
    @blp.response(202, JobSchema)
    @blp.alt_response(200, schema=JobSchema, description="the solve finished within ?wait")
    def post(self, args: dict, round_id: int) -> Any:
        """Start a solve of the round in a worker process (Hub Leads). Decisions so far are honoured: approved
        and locked pairings are kept, rejected pairs are never proposed again."""
        round_ = visible_round(round_id)
        require("hub_lead")
        return start_solve(round_, args["wait"])


@blp.route("/jobs/<job_id>")
class JobItem(MethodView):
    @blp.response(200, JobSchema)
    def get(self, job_id: str) -> dict:
        """A solve job: its state, its failure message, and the summary of its solution when done."""
        job = db().get(t.Job, job_id)
        if job is None or not principal().sees(db().get(t.Round, job.round_id).hub_id):  # type: ignore[union-attr]
            raise ApiError(404, f"No job {job_id!r}.")
        return job_view(job)


@blp.route("/rounds/<int:round_id>/publish")
class RoundPublish(MethodView):
    @blp.response(200, RoundSchema)
    def post(self, round_id: int) -> dict:
        """Publish a round whose every proposal is decided: its kept pairings become the schools' current
        advisers and Cornerstone Employers, the continuity of the next term (Hub Leads)."""
        round_ = visible_round(round_id)
        who = require("hub_lead")
        if round_.state != RoundState.PROPOSED:
            move_round(round_, RoundState.PUBLISHED)  # raises the lifecycle's reason
        undecided = db().scalar(
            select(func.count()).where(t.Proposal.round_id == round_id, t.Proposal.state == ProposalState.PROPOSED)
        )
        if undecided:
            raise ApiError(
                409,
                f"{undecided} proposal(s) are undecided; decide every proposal before publishing.",
                details={"undecided": undecided},
            )
        outcome = publish(db(), round_)
        round_.published_at = t.now()
        round_.summary = {**round_.summary, "published": outcome}
        record_event(db(), round_.hub_id, who.name, Action.ROUND_PUBLISHED, f"rounds/{round_id}", outcome)
        db().commit()
        return round_view(round_)


@blp.route("/rounds/<int:round_id>/unmatched")
class RoundUnmatched(MethodView):
    @blp.response(200, UnmatchedSchema(many=True))
    def get(self, round_id: int) -> list:
        """The school slots the last solve left open, each with its reason."""
        visible_round(round_id)
        return list(db().scalars(select(t.Unmatched).where(t.Unmatched.round_id == round_id).order_by(t.Unmatched.id)))


@blp.route("/rounds/<int:round_id>/decisions")
class RoundDecisions(MethodView):
    @blp.response(200, DecisionLogSchema(many=True))
    def get(self, round_id: int) -> list:
        """The audit log of the round: every decision, who and when (read-only: there is no way to edit it)."""
        visible_round(round_id)
        return list(db().scalars(select(t.Decision).where(t.Decision.round_id == round_id).order_by(t.Decision.id)))


@blp.route("/hubs/<hub_id>/waves")
class HubWaves(MethodView):
    @blp.arguments(WaveSchema)
    @blp.arguments(WaitArgs, location="query")
    @blp.response(202, JobSchema)
    @blp.alt_response(200, schema=JobSchema, description="the re-solve finished within ?wait")
    def post(self, body: dict, args: dict, hub_id: str) -> Any:
        """Add a wave of new schools and re-solve the hub with minimal disruption (Hub Leads): published pairings
        are locked unless ``allow_moves``; the job's result says how many pairings were kept, changed and new."""
        visible_hub(db(), hub_id)
        who = require("hub_lead")
        records = validate_rows("schools", SchoolSchema, body["schools"])
        term = body.get("term") or f"wave-{body['wave']}"
        if db().scalar(select(t.Round).where(t.Round.hub_id == hub_id, t.Round.term == term)):
            raise ApiError(409, f"Hub {hub_id!r} already has a round for {term!r}.")
        policy = body.get("policy") or _latest_policy(hub_id)
        imported = import_records(hub_id, t.School, records, body["wave"], actor=who.name)
        round_ = t.Round(
            hub_id=hub_id,
            term=term,
            policy=_policy_dict(policy),
            keep_current=not body["allow_moves"],
            created_by=who.name,
            summary={"wave": body["wave"], "imported": imported},
        )
        db().add(round_)
        db().flush()
        details = {"term": term, "wave": body["wave"]}
        record_event(db(), hub_id, who.name, Action.ROUND_CREATED, f"rounds/{round_.id}", details)
        db().commit()
        return start_solve(round_, args["wait"])


def _latest_policy(hub_id: str) -> dict[str, Any]:
    """The policy of the hub's last round (last term's rules carry over), or the defaults for its first round."""
    latest = db().scalar(select(t.Round).where(t.Round.hub_id == hub_id).order_by(t.Round.id.desc()))
    return dict(latest.policy) if latest is not None else _policy_dict(Policy())
