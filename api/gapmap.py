"""The recruitment gaps of a finished ``gaps`` job as a layer of the round's map (``?gaps=JOB``).

A gap is a proposed place for recruitment, not anyone's home, so its position is drawn as the job found it; the
layer is for Hub Leads and admins, who may start the search (a coordinator or a reader asking for it is refused).
"""

from __future__ import annotations

from flask import abort

from api.auth import principal
from api.context import db
from api.maps import Marker
from models import tables as t

LAYER = {"adviser": "where to recruit an adviser", "cornerstone": "where to recruit a Cornerstone Employer"}
NOUN = {"adviser": "an adviser", "cornerstone": "a Cornerstone Employer"}


def gap_markers(round_: t.Round, job_ref: str | None) -> list[Marker]:
    """Markers for the ranked places of the round's gaps job ``job_ref``; none without one."""
    if job_ref is None:
        return []
    if principal().role not in ("hub_lead", "admin"):
        abort(403)
    job = db().get(t.Job, job_ref) if len(job_ref) <= 36 else None
    if job is None or job.round_id != round_.id or job.kind != "gaps" or job.state != "succeeded":
        abort(404)
    return [
        Marker(_label(role, p), p["lat"], p["lon"], LAYER[role], tag=str(p["rank"]))
        for role, search in sorted(job.result.items())
        if role in LAYER
        for p in search["places"]
    ]


def _label(role: str, place: dict) -> str:
    schools = "school" if place["covers"] == 1 else "schools"
    return f"{place['rank']}. recruit {NOUN[role]} near {place['town']}: {place['covers']} more {schools}"
