"""Proposals and the coordinator's decisions: approve, reject (with a reason) or lock, singly or in a batch.

Each proposal has a version, sent as its ETag. A decision may carry ``If-Match`` (or ``version`` in a batch): a
stale one gets 412 and changes nothing. Without it, two coordinators racing on one proposal still cannot both win:
the row's version is checked by the UPDATE itself, and the loser gets 409. Every decision appends a row to the
audit log in the same transaction, so a decision and its record are written together or not at all.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import func, select

from api.app import db
from api.auth import Principal, principal, require
from api.errors import ApiError
from api.rounds import visible_round
from models import tables as t

blp = Blueprint("proposals", __name__, description="Proposed pairings and decisions on them")
BLUEPRINTS = [blp]

ACTIONS = {"approve": "approved", "reject": "rejected", "lock": "locked"}


class ProposalSchema(Schema):
    id = fields.Integer()
    round_id = fields.Integer()
    school_id = fields.String()
    partner_id = fields.String()
    role = fields.String()
    cost = fields.Float()
    components = fields.Dict()
    distance_km = fields.Float(allow_none=True)
    alternatives = fields.List(fields.Dict())
    state = fields.String(metadata={"description": "proposed, approved, rejected, locked"})
    reason = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    version = fields.Integer()


class ProposalPageSchema(Schema):
    items = fields.List(fields.Nested(ProposalSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ProposalArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))  # offset fits 64 bits
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    state = fields.String(validate=validate.OneOf(["proposed", "approved", "rejected", "locked"]))
    role = fields.String(validate=validate.OneOf(["adviser", "cornerstone"]))
    school = fields.String()
    partner = fields.String()


class DecisionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(list(ACTIONS)))
    reason = fields.String(validate=validate.Length(max=1000), load_default=None)

    @validates_schema
    def reason_for_reject(self, data: dict, **_: Any) -> None:
        if data["action"] == "reject" and not (data.get("reason") or "").strip():
            raise ValidationError("Say why the pairing is rejected.", "reason")


class BatchItemSchema(DecisionSchema):
    proposal = fields.Integer(required=True)
    version = fields.Integer(metadata={"description": "the version you saw; a stale one fails the whole batch"})


class BatchSchema(Schema):
    decisions = fields.List(fields.Nested(BatchItemSchema), required=True, validate=validate.Length(min=1, max=5000))


class BatchResultSchema(Schema):
    decided = fields.Integer()
    proposals = fields.List(fields.Nested(ProposalSchema))


def etag(proposal: t.Proposal) -> str:
    return f'"{proposal.id}.{proposal.version}"'


def visible_proposal(proposal_id: int) -> t.Proposal:
    """The proposal, if its hub is visible to the caller; else the same 404 as for no such proposal (the other
    hub's round id must not leak)."""
    proposal = db().get(t.Proposal, proposal_id)
    round_ = db().get(t.Round, proposal.round_id) if proposal is not None else None
    if proposal is None or round_ is None or not principal().sees(round_.hub_id):
        raise ApiError(404, f"No proposal {proposal_id}.")
    return proposal


def decide(proposal: t.Proposal, round_: t.Round, action: str, reason: str | None, who: Principal) -> None:
    """Apply one decision and append it to the audit log (the caller commits)."""
    if round_.state == "published":
        raise ApiError(409, "The round is published; its decisions are final.")
    if round_.state == "solving":
        raise ApiError(409, "The round is being solved; decide once the new proposals are in.")
    proposal.state = ACTIONS[action]
    proposal.reason = reason
    proposal.decided_by, proposal.decided_at = who.name, t.now()
    db().add(
        t.Decision(
            round_id=round_.id,
            proposal_id=proposal.id,
            school_id=proposal.school_id,
            partner_id=proposal.partner_id,
            role=proposal.role,
            action=action,
            reason=reason,
            actor=who.name,
        )
    )


@blp.route("/rounds/<int:round_id>/proposals")
class RoundProposals(MethodView):
    @blp.arguments(ProposalArgs, location="query")
    @blp.response(200, ProposalPageSchema)
    def get(self, args: dict, round_id: int) -> dict:
        """The round's proposals with paging; filter by state, role, school or partner."""
        visible_round(round_id)
        query = select(t.Proposal).where(t.Proposal.round_id == round_id)
        for arg, column in (
            ("state", t.Proposal.state),
            ("role", t.Proposal.role),
            ("school", t.Proposal.school_id),
            ("partner", t.Proposal.partner_id),
        ):
            if arg in args:
                query = query.where(column == args[arg])
        total = db().scalar(select(func.count()).select_from(query.subquery()))
        rows = db().scalars(
            query.order_by(t.Proposal.school_id, t.Proposal.role, t.Proposal.id)
            .offset((args["page"] - 1) * args["per_page"])
            .limit(args["per_page"])
        )
        return {"items": list(rows), "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/proposals/<int:proposal_id>")
class ProposalItem(MethodView):
    @blp.response(200, ProposalSchema)
    def get(self, proposal_id: int) -> Any:
        """One proposal, with its ETag for a conditional decision."""
        proposal = visible_proposal(proposal_id)
        return proposal, 200, {"ETag": etag(proposal)}


@blp.route("/proposals/<int:proposal_id>/decision")
class ProposalDecision(MethodView):
    @blp.arguments(DecisionSchema)
    @blp.response(200, ProposalSchema)
    def post(self, body: dict, proposal_id: int) -> Any:
        """Approve, reject (with a reason) or lock one proposal (coordinators and Hub Leads). Send If-Match with
        the ETag you read: if someone decided in between, 412 and nothing changes."""
        proposal = visible_proposal(proposal_id)
        who = require("hub_lead", "coordinator")
        expected = request.headers.get("If-Match")
        if expected is not None and expected.strip() not in (etag(proposal), "*"):
            raise ApiError(
                412,
                "The proposal changed since you read it; reload it and decide again.",
                details={"etag": etag(proposal)},
            )
        decide(proposal, visible_round(proposal.round_id), body["action"], body.get("reason"), who)
        db().commit()
        return proposal, 200, {"ETag": etag(proposal)}


@blp.route("/rounds/<int:round_id>/decisions/batch")
class BatchDecisions(MethodView):
    @blp.arguments(BatchSchema)
    @blp.response(200, BatchResultSchema)
    def post(self, body: dict, round_id: int) -> dict:
        """Decide many proposals of a round at once, all or nothing (coordinators and Hub Leads)."""
        round_ = visible_round(round_id)
        who = require("hub_lead", "coordinator")
        ids = [d["proposal"] for d in body["decisions"]]
        if len(set(ids)) != len(ids):
            raise ApiError(422, "A proposal appears twice in the batch.")
        found = {
            p.id: p
            for p in db().scalars(select(t.Proposal).where(t.Proposal.id.in_(ids), t.Proposal.round_id == round_id))
        }
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApiError(404, f"No proposal {missing[0]} in round {round_id}.", details={"missing": missing})
        stale = [
            d["proposal"] for d in body["decisions"] if "version" in d and d["version"] != found[d["proposal"]].version
        ]
        if stale:
            raise ApiError(
                412, "Some proposals changed since you read them; nothing was decided.", details={"stale": stale}
            )
        for d in body["decisions"]:
            decide(found[d["proposal"]], round_, d["action"], d.get("reason"), who)
        db().commit()
        return {"decided": len(ids), "proposals": [found[i] for i in ids]}
