"""Exports, one row per school: a round's proposals, or the hub's published pairings, as CSV or JSON."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import principal, visible_hub, visible_round
from api.context import db
from api.visibility import for_viewer, orm_dict
from matcher.geo import haversine_km
from models import tables as t
from models.lifecycle import ProposalState
from models.privacy import area_of, band_label, sees_homes

blp = Blueprint("exports", __name__, description="CSV and JSON exports for Hub Leads' reports")
BLUEPRINTS = [blp]

ROUND_COLUMNS = (
    "school_id",
    "school_name",
    "advisers",
    "adviser_states",
    "adviser_km",
    "cornerstones",
    "cornerstone_states",
    "cornerstone_km",
    "score",
    "unmatched",
)
PAIRING_COLUMNS = (
    "school_id",
    "school_name",
    "wave",
    "advisers",
    "adviser_km",
    "adviser_locked",
    "cornerstones",
    "cornerstone_km",
    "cornerstone_locked",
)


class FormatArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


def respond(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str, name: str) -> Response:
    """Rows as a JSON list or as a CSV attachment with a header row."""
    if fmt == "json":
        from flask import jsonify

        return jsonify(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(row.get(k)) for k in columns} for row in rows)
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a spreadsheet must not run a cell as a formula
    return value


@blp.route("/rounds/<int:round_id>/export")
class RoundExport(MethodView):
    @blp.arguments(FormatArgs, location="query")
    @blp.response(200)
    def get(self, args: dict, round_id: int) -> Response:
        """The round's proposals (rejected ones left out), one row per school, with distances and total score
        (for non-admins, advisers' distances as bands and scores derived from them)."""
        round_ = visible_round(round_id)
        names = dict(db().execute(select(t.School.id, t.School.name).where(t.School.hub_id == round_.hub_id)).all())
        rows: dict[str, dict[str, Any]] = {s: _blank_round_row(s, n) for s, n in sorted(names.items())}
        kept = db().scalars(
            select(t.Proposal)
            .where(t.Proposal.round_id == round_id, t.Proposal.state != ProposalState.REJECTED)
            .order_by(t.Proposal.id)
        )
        for p in for_viewer([orm_dict(p) for p in kept], round_.hub_id):
            row = rows.setdefault(p["school_id"], _blank_round_row(p["school_id"], ""))
            row["score"] = round(row["score"] + p["cost"], 4)
            km = p.get("distance_band") if p["distance_km"] is None else round(p["distance_km"], 2)
            role = "advisers" if p["role"] == "adviser" else "cornerstones"  # every partner of the role, in order
            row[role].append(p["partner_id"])
            row[f"{p['role']}_states"].append(p["state"])
            row[f"{p['role']}_km"].append(km)
        for u in db().scalars(select(t.Unmatched).where(t.Unmatched.round_id == round_id)):
            rows[u.school_id]["unmatched"].append(f"{u.role}:{u.reason}")
        return respond(list(rows.values()), ROUND_COLUMNS, args["format"], f"round-{round_id}")


def _blank_round_row(school_id: str, name: str) -> dict[str, Any]:
    return {
        "school_id": school_id,
        "school_name": name,
        "advisers": [],
        "adviser_states": [],
        "adviser_km": [],
        "cornerstones": [],
        "cornerstone_states": [],
        "cornerstone_km": [],
        "score": 0.0,
        "unmatched": [],
    }


@blp.route("/hubs/<hub_id>/pairings")
class HubPairings(MethodView):
    @blp.arguments(FormatArgs, location="query")
    @blp.response(200)
    def get(self, args: dict, hub_id: str) -> Response:
        """The hub's published pairings (each school's current adviser and Cornerstone Employers) with distances
        (an adviser's as a band for non-admins)."""
        visible_hub(db(), hub_id)
        adviser_km = _km if sees_homes(principal().role) else _km_band
        advisers = {a.id: a for a in db().scalars(select(t.Adviser).where(t.Adviser.hub_id == hub_id))}
        employers = {e.id: e for e in db().scalars(select(t.Employer).where(t.Employer.hub_id == hub_id))}
        rows = []
        for s in db().scalars(select(t.School).where(t.School.hub_id == hub_id).order_by(t.School.id)):
            mine = {role: [p for p in s.pairings if p.role == role] for role in ("adviser", "cornerstone")}
            rows.append(
                {
                    "school_id": s.id,
                    "school_name": s.name,
                    "wave": s.wave,
                    "advisers": [p.partner_id for p in mine["adviser"]],
                    "adviser_km": [adviser_km(s, _home(advisers.get(p.partner_id))) for p in mine["adviser"]],
                    "adviser_locked": [p.locked for p in mine["adviser"]],
                    "cornerstones": [p.partner_id for p in mine["cornerstone"]],
                    "cornerstone_km": [_km(s, _sites(employers.get(p.partner_id))) for p in mine["cornerstone"]],
                    "cornerstone_locked": [p.locked for p in mine["cornerstone"]],
                }
            )
        return respond(rows, PAIRING_COLUMNS, args["format"], f"{hub_id}-pairings")


def _home(adviser: t.Adviser | None) -> list[tuple[float, float]]:
    return [] if adviser is None else [(adviser.lat, adviser.lon)]


def _sites(employer: t.Employer | None) -> list[tuple[float, float]]:
    return [] if employer is None else [(site["lat"], site["lon"]) for site in employer.sites]


def _km(school: t.School, places: list[tuple[float, float]]) -> float | None:
    """Distance from the school to the nearest of the places, in km to 2 decimals."""
    if not places:
        return None
    lat, lon = zip(*places, strict=True)
    return round(float(haversine_km([school.lat] * len(lat), [school.lon] * len(lat), lat, lon).min()), 2)


def _km_band(school: t.School, places: list[tuple[float, float]]) -> str | None:
    """The distance from the school to an adviser as a non-admin reads it: the band of the distance to the
    adviser's area, never to the home (``models.privacy``)."""
    return band_label(_km(school, [area_of(lat, lon) for lat, lon in places]))
