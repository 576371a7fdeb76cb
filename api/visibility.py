"""What a caller may see of a hub's rounds and proposals: the one place that turns rows into a reader's view.

Blueprints share these (no blueprint imports another): an admin reads proposals as stored; anyone else reads
advisers' distances as bands and costs derived from the bands (``models.privacy``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from marshmallow import Schema, fields
from sqlalchemy import select

from api.auth import principal
from api.context import db, reading
from matcher.geo import haversine_km
from models import tables as t
from models.domain import Policy
from models.privacy import ADVISER, area_of, coarse_proposal, sees_homes

ROUNDS = t.Round.__table__
ADVISERS = t.Adviser.__table__
SCHOOLS = t.School.__table__


class ProposalSchema(Schema):
    id = fields.Integer()
    round_id = fields.Integer()
    school_id = fields.String()
    partner_id = fields.String()
    role = fields.String()
    cost = fields.Float()
    components = fields.Dict()
    distance_km = fields.Float(allow_none=True, metadata={"description": "exact to admins; null to others (advisers)"})
    distance_band = fields.String(
        allow_none=True, metadata={"description": "an adviser's distance as non-admins see it (models.privacy)"}
    )
    alternatives = fields.List(fields.Dict())
    state = fields.String(metadata={"description": "proposed, approved, rejected, locked"})
    reason = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    version = fields.Integer()



DERIVED = ("distance_band",)  # what only the non-admin view adds (models.privacy)
FIELDS = tuple(f for f in ProposalSchema().fields if f not in DERIVED)  # each a column of the same name


def for_viewer(items: list[dict[str, Any]], hub_id: str) -> list[dict[str, Any]]:
    """The proposals as the caller may see them: as read for an admin; for anyone else, advisers' distances as
    bands and costs derived from the bands (``models.privacy``), with one query for the radii it needs."""
    if sees_homes(principal().role) or not any(item["role"] == ADVISER for item in items):
        return items
    scales = _distance_scales(items, hub_id)
    areas = _area_km(items, hub_id, set(scales))
    return [coarse_proposal(item, scales, areas) for item in items]


def _area_km(items: list[dict[str, Any]], hub_id: str, advisers: set[str]) -> dict[tuple[str, str], float]:
    """For each school of these proposals and each adviser among them or their alternatives, the distance from
    the school to the adviser's area (``models.privacy.area_of``): what a non-admin's bands are measured from."""
    schools = {item["school_id"] for item in items}
    with reading() as conn:
        homes = conn.execute(select(ADVISERS.c.id, ADVISERS.c.lat, ADVISERS.c.lon).where(
            ADVISERS.c.hub_id == hub_id, ADVISERS.c.id.in_(advisers))).all()
        places = conn.execute(select(SCHOOLS.c.id, SCHOOLS.c.lat, SCHOOLS.c.lon).where(
            SCHOOLS.c.hub_id == hub_id, SCHOOLS.c.id.in_(schools))).all()
    if not homes or not places:
        return {}
    areas = np.array([area_of(lat, lon) for _, lat, lon in homes])
    spots = np.array([(lat, lon) for _, lat, lon in places])
    km = haversine_km(spots[:, :1], spots[:, 1:], areas[None, :, 0], areas[None, :, 1])  # schools x advisers
    return {(school[0], home[0]): float(km[i, j]) for i, school in enumerate(places) for j, home in enumerate(homes)}


def _distance_scales(items: list[dict[str, Any]], hub_id: str) -> dict[str, float]:
    """Per adviser of these proposals and their alternatives, the distance component per km: the round's
    distance weight over the adviser's travel radius (its own, else the round's default)."""
    ids = {item["partner_id"] for item in items if item["role"] == ADVISER}
    for item in items:
        if item["role"] == ADVISER:
            alternatives = item["alternatives"]
            text = getattr(alternatives, "text", None)
            ids |= {a["partner"] for a in (json.loads(text) if text is not None else alternatives or [])}
    round_ids = {item["round_id"] for item in items}
    with reading() as conn:
        policies = dict(conn.execute(select(ROUNDS.c.id, ROUNDS.c.policy).where(ROUNDS.c.id.in_(round_ids))).all())
        radii = dict(
            conn.execute(
                select(ADVISERS.c.id, ADVISERS.c.max_travel_km).where(
                    ADVISERS.c.hub_id == hub_id, ADVISERS.c.id.in_(ids)
                )
            ).all()
        )
    (policy,) = policies.values()  # the items of one view are of one round
    weight = float(policy.get("weights", {}).get("distance", Policy().weights.distance))
    default = float(policy.get("default_max_travel_km", Policy().default_max_travel_km))
    return {aid: weight / (radii.get(aid) or default) for aid in ids}


def orm_dict(proposal: t.Proposal) -> dict[str, Any]:
    """An ORM proposal as the read path's dicts (for the views that decided and hold ORM objects)."""
    return {name: getattr(proposal, name) for name in FIELDS}


IDLE_READERS = ("admin", "hub_lead")  # idle volunteers are a Hub Lead's call list, not every coordinator's


def idle_partners(round_id: int) -> list[dict[str, Any]]:
    """The round's idle partners as the caller may read them (the endpoint's, the panel's and the workbook's one
    reader): an adviser's nearest school's exact distance is location data, for admins only."""
    admin = sees_homes(principal().role)
    rows = db().scalars(select(t.IdlePartner).where(t.IdlePartner.round_id == round_id).order_by(t.IdlePartner.id))
    return [
        {"partner_id": row.partner_id, "role": row.role, "reason": row.reason, "detail": row.detail,
         "distance_km": row.distance_km if admin or row.role != ADVISER else None,
         "distance_band": row.distance_band}
        for row in rows
    ]
