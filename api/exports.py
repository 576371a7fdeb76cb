"""Exports for Hub Leads' reports: a round's proposals, or the hub's published pairings, as JSON, CSV or Excel.

JSON and CSV have one row per school; the CSV streams a line at a time with every cell made safe for
spreadsheets (``models.cells``). The Excel workbook (``models.workbook``) is for printing and filtering: a
"Pairings" sheet with one row per pairing, and a sheet of the schools left without a partner and why (the
layout is in docs/data.md). A sheet is one function of ``ROUND_SHEETS`` / ``PAIRING_SHEETS``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, send_file, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from api.auth import principal, visible_hub, visible_round
from api.context import db
from api.visibility import IDLE_READERS, for_viewer, idle_partners, orm_dict
from matcher.geo import haversine_km
from models import tables as t
from models.cells import csv_lines
from models.lifecycle import ProposalState
from models.privacy import area_of, band_label, sees_homes
from models.workbook import XLSX_MIMETYPE, Column, SheetSpec, write_workbook

blp = Blueprint("exports", __name__, description="JSON, CSV and Excel exports for Hub Leads' reports")
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
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "csv", "xlsx"]),
        metadata={"description": "json, csv (one row per school) or xlsx (an Excel workbook to print)"},
    )


def respond(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str, name: str) -> Response:
    """Rows as a JSON list or as a streamed CSV attachment with a header row."""
    if fmt == "json":
        from flask import jsonify

        return jsonify(list(rows))
    return Response(
        stream_with_context(csv_lines(columns, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def workbook(sheets: Iterable[SheetSpec], name: str) -> Response:
    """The sheets as an .xlsx attachment, written to a temporary file (write-only: constant memory) and sent
    from there; the file goes when the response is closed."""
    out = tempfile.TemporaryFile()  # noqa: SIM115  # closed by send_file when the response ends
    write_workbook(sheets, out)
    out.seek(0)
    return send_file(out, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=f"{name}.xlsx")


@blp.route("/rounds/<int:round_id>/export")
class RoundExport(MethodView):
    @blp.arguments(FormatArgs, location="query")
    @blp.response(200)
    def get(self, args: dict, round_id: int) -> Response:
        """The round's proposals (rejected ones left out), one row per school, with distances and total score
        (for non-admins, advisers' distances as bands and scores derived from them); as xlsx, the "Pairings"
        and "Unmatched" sheets."""
        round_ = visible_round(round_id)
        if args["format"] == "xlsx":
            return workbook((sheet(round_) for sheet in ROUND_SHEETS), f"round-{round_id}")
        rows: dict[str, dict[str, Any]] = {s: _blank_round_row(s, n) for s, n in _school_names(round_.hub_id)}
        for p in _proposals(round_):
            row = rows.setdefault(p["school_id"], _blank_round_row(p["school_id"], ""))
            row["score"] = round(row["score"] + p["cost"], 4)
            role = "advisers" if p["role"] == "adviser" else "cornerstones"  # every partner of the role, in order
            row[role].append(p["partner_id"])
            row[f"{p['role']}_states"].append(p["state"])
            row[f"{p['role']}_km"].append(p["km"])
        for u in db().scalars(select(t.Unmatched).where(t.Unmatched.round_id == round_id)):
            rows[u.school_id]["unmatched"].append(f"{u.role}:{u.reason}")
        return respond(rows.values(), ROUND_COLUMNS, args["format"], f"round-{round_id}")


def _school_names(hub_id: str) -> list[tuple[str, str]]:
    return sorted(db().execute(select(t.School.id, t.School.name).where(t.School.hub_id == hub_id)).all())


def _proposals(round_: t.Round) -> list[dict[str, Any]]:
    """The round's kept proposals as the caller may read them, each with ``km``: a distance, or for a non-admin
    an adviser's distance band."""
    kept = db().scalars(
        select(t.Proposal)
        .where(t.Proposal.round_id == round_.id, t.Proposal.state != ProposalState.REJECTED)
        .order_by(t.Proposal.id)
    )
    out = for_viewer([orm_dict(p) for p in kept], round_.hub_id)
    for p in out:
        p["km"] = p.get("distance_band") if p["distance_km"] is None else round(p["distance_km"], 2)
    return out


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
        (an adviser's as a band for non-admins); as xlsx, the "Pairings" and "Without a partner" sheets."""
        visible_hub(db(), hub_id)
        if args["format"] == "xlsx":
            return workbook((sheet(hub_id) for sheet in PAIRING_SHEETS), f"{hub_id}-pairings")
        return respond(_school_pairings(hub_id), PAIRING_COLUMNS, args["format"], f"{hub_id}-pairings")


def _school_pairings(hub_id: str) -> Iterable[dict[str, Any]]:
    """One row per school of the hub, in id order, with its published partners per role."""
    for s, mine in _published(hub_id):
        yield {
            "school_id": s.id,
            "school_name": s.name,
            "wave": s.wave,
            "advisers": [p["partner_id"] for p in mine["adviser"]],
            "adviser_km": [p["km"] for p in mine["adviser"]],
            "adviser_locked": [p["locked"] for p in mine["adviser"]],
            "cornerstones": [p["partner_id"] for p in mine["cornerstone"]],
            "cornerstone_km": [p["km"] for p in mine["cornerstone"]],
            "cornerstone_locked": [p["locked"] for p in mine["cornerstone"]],
        }


def _published(hub_id: str) -> Iterable[tuple[t.School, dict[str, list[dict[str, Any]]]]]:
    """Each school with its published pairings per role: partner id and name, distance (an adviser's as a band
    for non-admins) and lock."""
    adviser_km = _km if sees_homes(principal().role) else _km_band
    advisers = {a.id: a for a in db().scalars(select(t.Adviser).where(t.Adviser.hub_id == hub_id))}
    employers = {e.id: e for e in db().scalars(select(t.Employer).where(t.Employer.hub_id == hub_id))}
    schools = db().scalars(select(t.School).where(t.School.hub_id == hub_id).order_by(t.School.id))
    for s in schools:
        mine: dict[str, list[dict[str, Any]]] = {"adviser": [], "cornerstone": []}
        for p in s.pairings:
            if p.role == "adviser":
                adviser = advisers.get(p.partner_id)
                km, name = adviser_km(s, _home(adviser)), adviser.name if adviser else None
            else:
                employer = employers.get(p.partner_id)
                km, name = _km(s, _sites(employer)), employer.name if employer else None
            mine[p.role].append({"partner_id": p.partner_id, "partner_name": name, "km": km, "locked": p.locked})
        yield s, mine


# ---------------------------------------------------------------------------------------- Excel sheets

ROLE_TITLES = {"adviser": "Enterprise Adviser", "cornerstone": "Cornerstone Employer"}
SCHOOL = (Column("school_id", "School URN / id", 14), Column("school_name", "School", 40))
PARTNER = (Column("role", "Role", 22), Column("partner_id", "Partner id", 12), Column("partner_name", "Partner", 30))


def _partner_names(hub_id: str) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for table in (t.Adviser, t.Employer):
        names.update(dict(db().execute(select(table.id, table.name).where(table.hub_id == hub_id)).all()))
    return names


def round_pairings_sheet(round_: t.Round) -> SheetSpec:
    """One row per kept proposal of the round, by school."""
    schools, partners = dict(_school_names(round_.hub_id)), _partner_names(round_.hub_id)
    proposals = sorted(_proposals(round_), key=lambda p: (p["school_id"], p["role"], p["id"]))
    rows = (
        {**p, "school_name": schools.get(p["school_id"]), "role": ROLE_TITLES[p["role"]],
         "partner_name": partners.get(p["partner_id"]), "cost": round(p["cost"], 4)}
        for p in proposals
    )
    columns = (*SCHOOL, *PARTNER, Column("state", "Decision", 11), Column("km", "Distance (km)", 13),
               Column("cost", "Score", 9))
    return SheetSpec("Pairings", columns, rows)


def round_unmatched_sheet(round_: t.Round) -> SheetSpec:
    """One row per school place the round left open, with the reason and what would fill it."""
    schools = dict(_school_names(round_.hub_id))
    found = db().scalars(
        select(t.Unmatched).where(t.Unmatched.round_id == round_.id).order_by(t.Unmatched.school_id, t.Unmatched.id)
    )
    rows = (
        {"school_id": u.school_id, "school_name": schools.get(u.school_id), "role": ROLE_TITLES.get(u.role, u.role),
         "reason": u.reason, "detail": u.detail}
        for u in found
    )
    columns = (*SCHOOL, Column("role", "Place for", 22), Column("reason", "Reason", 18),
               Column("detail", "What would fill it", 70))
    return SheetSpec("Unmatched", columns, rows)


def hub_pairings_sheet(hub_id: str) -> SheetSpec:
    """One row per published pairing of the hub, by school."""
    rows = (
        {"school_id": s.id, "school_name": s.name, "wave": s.wave, "role": ROLE_TITLES[role], **p}
        for s, mine in _published(hub_id)
        for role in ("adviser", "cornerstone")
        for p in mine[role]
    )
    columns = (*SCHOOL, Column("wave", "Wave", 10), *PARTNER, Column("km", "Distance (km)", 13),
               Column("locked", "Locked", 8))
    return SheetSpec("Pairings", columns, rows)


def hub_unpaired_sheet(hub_id: str) -> SheetSpec:
    """One row per active school and role with no published partner."""
    rows = (
        {"school_id": s.id, "school_name": s.name, "wave": s.wave, "role": ROLE_TITLES[role],
         "reason": f"no published {ROLE_TITLES[role]}"}
        for s, mine in _published(hub_id)
        if s.retired_at is None
        for role in ("adviser", "cornerstone")
        if not mine[role]
    )
    columns = (*SCHOOL, Column("wave", "Wave", 10), Column("role", "Place for", 22), Column("reason", "Reason", 36))
    return SheetSpec("Without a partner", columns, rows)


def round_idle_sheet(round_: t.Round) -> SheetSpec:
    """One row per willing volunteer the round gave no school, and why; empty for readers who are not the Hub
    Lead or an admin, like the idle list itself. The detail speaks in distance bands; admins also get the km."""
    rows: Iterable[dict[str, Any]] = ()
    if principal().role in IDLE_READERS:
        partners = _partner_names(round_.hub_id)
        found = sorted(idle_partners(round_.id), key=lambda i: (i["role"], i["partner_id"]))
        rows = ({**i, "partner_name": partners.get(i["partner_id"]), "role": ROLE_TITLES.get(i["role"], i["role"]),
                 "km": i["distance_km"]} for i in found)
    columns = (*PARTNER, Column("reason", "Reason", 18), Column("detail", "Why", 70),
               Column("km", "Nearest school (km)", 18))
    return SheetSpec("Idle volunteers", columns, rows)


# A round's workbook, sheet by sheet.
ROUND_SHEETS: tuple[Callable[[t.Round], SheetSpec], ...] = (round_pairings_sheet, round_unmatched_sheet,
                                                            round_idle_sheet)
PAIRING_SHEETS: tuple[Callable[[str], SheetSpec], ...] = (hub_pairings_sheet, hub_unpaired_sheet)


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
