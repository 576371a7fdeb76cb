"""Proposals and the coordinator's decisions: approve, reject (with a reason) or lock, singly or in a batch.

Each proposal has a version, sent as its ETag. A decision may carry ``If-Match`` (or ``version`` in a batch): a
stale one gets 412 and changes nothing. Without it, two coordinators racing on one proposal still cannot both win:
the row's version is checked by the UPDATE itself, and the loser gets 409. Every decision appends a row to the
audit log in the same transaction, so a decision and its record are written together or not at all.

Reading proposals is most of the service's traffic while a round is reviewed, so the two read views take a short
path: one Core ``SELECT`` of exactly the columns ``ProposalSchema`` declares, rows made into plain dicts and encoded
by the app's orjson provider, with no ORM objects and no marshmallow dump (together they were two thirds of a
read's CPU); the cost components and alternatives go from the database's text to the response unparsed. The
responses hold what ``ProposalSchema`` dumps, field for field (``tests/api/test_read_path.py`` compares the two),
and the views keep their schemas for the OpenAPI document.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Select, Text, bindparam, cast, func, select, true

from api.auth import Principal, principal, require, visible_round
from api.context import db, reading
from api.errors import ApiError
from api.jsonio import StoredJSON
from api.visibility import FIELDS, ProposalSchema, for_viewer, orm_dict
from models import tables as t
from models.lifecycle import decidable
from models.schemas import (
    MAX_ID_LENGTH,
    MAX_PAGE,
    MAX_PROPOSALS_PER_PAGE,
    MAX_REASON_LENGTH,
    MAX_ROW_ID,
    integer,
    text,
)

blp = Blueprint("proposals", __name__, description="Proposed pairings and decisions on them")
BLUEPRINTS = [blp]

ACTIONS = {"approve": "approved", "reject": "rejected", "lock": "locked"}


class ProposalPageSchema(Schema):
    items = fields.List(fields.Nested(ProposalSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ProposalArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))  # offset fits 64 bits
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PROPOSALS_PER_PAGE))
    state = fields.String(validate=validate.OneOf(["proposed", "approved", "rejected", "locked"]))
    role = fields.String(validate=validate.OneOf(["adviser", "cornerstone"]))
    school = text(MAX_ID_LENGTH)
    partner = text(MAX_ID_LENGTH)


class DecisionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(list(ACTIONS)))
    reason = text(MAX_REASON_LENGTH, load_default=None)

    @validates_schema
    def reason_for_reject(self, data: dict, **_: Any) -> None:
        if data["action"] == "reject" and not (data.get("reason") or "").strip():
            raise ValidationError("Say why the pairing is rejected.", "reason")


class BatchItemSchema(DecisionSchema):
    proposal = integer(1, MAX_ROW_ID, required=True)
    version = integer(1, MAX_ROW_ID, metadata={"description": "the version you saw; a stale one fails the whole batch"})


class BatchSchema(Schema):
    decisions = fields.List(fields.Nested(BatchItemSchema), required=True, validate=validate.Length(min=1, max=5000))


class BatchResultSchema(Schema):
    decided = fields.Integer()
    proposals = fields.List(fields.Nested(ProposalSchema))


PROPOSALS = t.Proposal.__table__
ROUNDS = t.Round.__table__
STORED_JSON = ("components", "alternatives")  # read as their stored text and written out as they are
COLUMNS = tuple(
    cast(PROPOSALS.c[name], Text).label(name) if name in STORED_JSON else PROPOSALS.c[name] for name in FIELDS
)
ORDER = (PROPOSALS.c.school_id, PROPOSALS.c.role, PROPOSALS.c.id)
FILTERS = (
    ("state", PROPOSALS.c.state),
    ("role", PROPOSALS.c.role),
    ("school", PROPOSALS.c.school_id),
    ("partner", PROPOSALS.c.partner_id),
)


def etag(proposal: t.Proposal | dict[str, Any]) -> str:
    if isinstance(proposal, dict):
        return f'"{proposal["id"]}.{proposal["version"]}"'
    return f'"{proposal.id}.{proposal.version}"'


def proposal_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``COLUMNS`` as ``ProposalSchema`` dumps it: the values as read, the decision time in ISO 8601, the
    JSON columns as their stored text (the same values once the response is parsed, without parsing them here)."""
    item = dict(zip(FIELDS, row, strict=True))
    if item["decided_at"] is not None:
        item["decided_at"] = item["decided_at"].isoformat()
    for name in STORED_JSON:
        if item[name] is not None:
            item[name] = StoredJSON(item[name])
    return item


def json_response(payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A 200 JSON response built directly (flask-smorest passes a Response through without dumping it again)."""
    return current_app.json.bytes_response(payload, 200, headers)  # type: ignore[attr-defined]


@functools.cache
def page_query(filters: tuple[str, ...]) -> Select[Any]:
    """The one statement of a page read with these filters: a row per proposal of the page, each with the round's
    hub and the filtered count (one row of NULL proposal columns when the page is empty; none if no round).

    One statement is one round trip to the database instead of two. It is built once per combination of filters,
    with bound parameters, so a request only binds values: building the statement each time cost as much as
    running it.
    """
    conditions = [PROPOSALS.c.round_id == bindparam("round_id")]
    conditions += [column == bindparam(arg) for arg, column in FILTERS if arg in filters]
    total = select(func.count()).select_from(PROPOSALS).where(*conditions).scalar_subquery()
    page = (
        select(*COLUMNS).where(*conditions).order_by(*ORDER)
        .offset(bindparam("offset")).limit(bindparam("limit")).subquery("page")
    )
    return (
        select(ROUNDS.c.hub_id, total, *page.c)
        .select_from(ROUNDS.outerjoin(page, true()))
        .where(ROUNDS.c.id == bindparam("round_id"))
        .order_by(*(page.c[column.name] for column in ORDER))
    )


ITEM_QUERY = (
    select(*COLUMNS, ROUNDS.c.hub_id)
    .join_from(PROPOSALS, ROUNDS, PROPOSALS.c.round_id == ROUNDS.c.id)
    .where(PROPOSALS.c.id == bindparam("proposal_id"))
)


def read_page(round_id: int, args: dict[str, Any]) -> dict[str, Any]:
    """A page of a round's proposals as ``ProposalPageSchema`` dumps it; 404 if the round is not visible."""
    filters = tuple(arg for arg, _ in FILTERS if arg in args)
    page, per_page = args["page"], args["per_page"]
    values = {arg: args[arg] for arg in filters}
    with reading() as conn:
        rows = conn.execute(
            page_query(filters), {"round_id": round_id, "offset": (page - 1) * per_page, "limit": per_page, **values}
        ).all()
    if not rows or not principal().sees(rows[0][0]):
        raise ApiError(404, f"No round {round_id}.")
    items = [proposal_dict(row[2:]) for row in rows if row[2] is not None]  # an empty page: one row of NULLs
    items = for_viewer(items, rows[0][0])
    return {"items": items, "page": page, "per_page": per_page, "total": rows[0][1]}


def read_proposal(proposal_id: int) -> dict[str, Any]:
    """One proposal as ``ProposalSchema`` dumps it, read with its round's hub in one query; the same 404 as
    ``visible_proposal`` when it is missing or another hub's."""
    with reading() as conn:
        row = conn.execute(ITEM_QUERY, {"proposal_id": proposal_id}).first()
    if row is None or not principal().sees(row[-1]):
        raise ApiError(404, f"No proposal {proposal_id}.")
    return for_viewer([proposal_dict(row[:-1])], row[-1])[0]


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
    decidable(round_)
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
    @blp.arguments(ProposalArgs(), location="query")
    @blp.response(200, ProposalPageSchema)
    def get(self, args: dict, round_id: int) -> Response:
        """The round's proposals with paging; filter by state, role, school or partner."""
        return json_response(read_page(round_id, args))


@blp.route("/proposals/<int:proposal_id>")
class ProposalItem(MethodView):
    @blp.response(200, ProposalSchema)
    def get(self, proposal_id: int) -> Response:
        """One proposal, with its ETag for a conditional decision."""
        proposal = read_proposal(proposal_id)
        return json_response(proposal, {"ETag": etag(proposal)})


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
        hub_id = visible_round(proposal.round_id).hub_id
        return for_viewer([orm_dict(proposal)], hub_id)[0], 200, {"ETag": etag(proposal)}


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
        return {"decided": len(ids), "proposals": for_viewer([orm_dict(found[i]) for i in ids], round_.hub_id)}
