"""The recruitment gaps of a finished ``gaps`` job as markers on the round's map (``map.svg?gaps=JOB``).

A gap is a proposed place for recruitment, not anyone's home, so its position is drawn as the job found it; the
layer is for Hub Leads and admins, who may start the search (a coordinator or a reader asking for it is refused).
"""

from __future__ import annotations

from flask import abort

from api.auth import principal
from api.context import db
from api.maps import Place
from models import tables as t

GAP_KIND = {"adviser": "gap_adviser", "cornerstone": "gap_cornerstone"}
NOUN = {"adviser": "adviser", "cornerstone": "Cornerstone Employer"}


def gap_places(round_: t.Round, job_ref: str | None) -> list[Place]:
    """Markers for the ranked places of the round's gaps job ``job_ref``; none without one."""
    if job_ref is None:
        return []
    if principal().role not in ("hub_lead", "admin"):
        abort(403)
    job = db().get(t.Job, job_ref) if len(job_ref) <= 36 else None
    if job is None or job.round_id != round_.id or job.kind != "gaps" or job.state != "succeeded":
        abort(404)
    return [
        Place(f"{GAP_KIND[role]}-{p['rank']}", _label(role, p), GAP_KIND[role], p["lat"], p["lon"])
        for role, search in sorted(job.result.items())
        if role in GAP_KIND
        for p in search["places"]
    ]


def _label(role: str, place: dict) -> str:
    schools = "school" if place["covers"] == 1 else "schools"
    return f"{place['rank']}. recruit an {NOUN[role]} near {place['town']}: {place['covers']} more {schools}"
