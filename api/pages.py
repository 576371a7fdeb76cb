"""The coordinator's review page: a round's proposals on a map, decisions in a click.

Server-rendered (Jinja) with a little plain JavaScript; no build step. The page signs in with the same API tokens
(kept in an HttpOnly, SameSite=Strict cookie) and the same hub scoping; its buttons call the JSON API with a CSRF
header, so a decision from the page is exactly a decision through the API: ETag-checked and audited.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, make_response, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from api.auth import COOKIE, digest, principal, visible_round
from api.context import db
from api.gapmap import gap_places
from api.maps import Pairing, Place, build_map, to_png, to_svg
from api.visibility import for_viewer, orm_dict
from models import tables as t
from models.privacy import BANDS, band_label, sees_homes
from models.repository import low_on_encounters

ui = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")
FILTERS = {"all": "All schools", "undecided": "Undecided", "unmatched": "Unmatched", "low_score": "Low score",
           "long_distance": "Long distance"}
LONG_KM = 20.0


@dataclass
class SchoolRow:
    """One school of the round as the page shows it."""

    school: t.School
    proposals: list[dict[str, Any]] = field(default_factory=list)  # as the viewer may see them (api.proposals)
    unmatched: list[t.Unmatched] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(p["cost"] for p in self.proposals if p["state"] != "rejected")

    @property
    def longest_km(self) -> float:
        return max((travel_km(p) or 0.0 for p in self.proposals if p["state"] != "rejected"), default=0.0)


TYPICAL_KM = {band.label: band.typical_km for band in BANDS}


def travel_km(proposal: dict[str, Any]) -> float | None:
    """A proposal's distance as the viewer knows it: exact, or the typical distance of its band."""
    if proposal["distance_km"] is not None:
        return float(proposal["distance_km"])
    return TYPICAL_KM.get(proposal.get("distance_band") or "")


@ui.get("/login")
def login() -> str:
    return render_template("login.html", next=request.args.get("next", url_for("ui.index")), error=None)


def same_origin() -> bool:
    """Whether a form post comes from this service's own pages: its ``Origin`` (else its ``Referer``) names the
    request's own host. A post with neither is let through (old browsers; no cross-site form omits both)."""
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if not sent:
        return True
    parts = urlsplit(sent)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


@ui.post("/login")
def login_post() -> BaseResponse | tuple[str, int]:
    if not same_origin():
        return render_template("login.html", next=url_for("ui.index"),
                               error="Sign-in from another site is refused: sign in on this page."), 403
    token = (request.form.get("token") or "").strip()
    target = request.form.get("next") or url_for("ui.index")
    if not target.startswith("/ui"):
        target = url_for("ui.index")
    if not token or db().scalar(select(t.Token).where(t.Token.digest == digest(token),
                                                      t.Token.revoked.is_(False))) is None:
        return render_template("login.html", next=target, error="That token is not valid."), 401
    response = redirect(target)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, max_age=8 * 3600)
    return response


@ui.post("/logout")
def logout() -> BaseResponse:
    response = redirect(url_for("ui.login"))
    response.delete_cookie(COOKIE)
    return response


@ui.get("/")
def index() -> str:
    who = principal()
    query = select(t.Round).order_by(t.Round.hub_id, t.Round.id.desc())
    if who.role != "admin":
        query = query.where(t.Round.hub_id == who.hub_id)
    return render_template("index.html", rounds=list(db().scalars(query)), who=who)


@ui.get("/rounds/<int:round_id>")
def round_page(round_id: int) -> str:
    round_ = visible_round(round_id)
    show = request.args.get("show", "all")
    if show not in FILTERS:
        abort(400)
    rows = school_rows(round_)
    shown = [r for r in rows if keep(r, show, rows)]
    return render_template("round.html", round=round_, rows=shown, total=len(rows), show=show, filters=FILTERS,
                           summary=summary(round_, rows), names=partner_names(round_.hub_id), who=principal(),
                           csrf=g.get("csrf", ""))


@ui.get("/rounds/<int:round_id>/map.<fmt>")
def round_map(round_id: int, fmt: str) -> Response:
    round_ = visible_round(round_id)
    if fmt not in ("svg", "png"):
        abort(404)
    places, pairings = map_content(round_)
    drawing = build_map(places + gap_places(round_, request.args.get("gaps")), pairings)
    title = f"{round_.hub_id} {round_.term}: proposed pairings"
    body, mimetype = (to_svg(drawing, title), "image/svg+xml") if fmt == "svg" else (to_png(drawing), "image/png")
    response = make_response(body)
    response.mimetype = mimetype
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{round_.hub_id}-{round_.term}-map.{fmt}"'
    return response


def school_rows(round_: t.Round) -> list[SchoolRow]:
    rows = {s.id: SchoolRow(s) for s in db().scalars(select(t.School).where(t.School.hub_id == round_.hub_id)
                                                        .order_by(t.School.name))}
    proposals = db().scalars(select(t.Proposal).where(t.Proposal.round_id == round_.id)
                             .order_by(t.Proposal.role, t.Proposal.id))
    for p in for_viewer([orm_dict(p) for p in proposals], round_.hub_id):
        if p["school_id"] in rows:
            rows[p["school_id"]].proposals.append(p)
    for u in db().scalars(select(t.Unmatched).where(t.Unmatched.round_id == round_.id)):
        if u.school_id in rows:
            rows[u.school_id].unmatched.append(u)
    return list(rows.values())


def keep(row: SchoolRow, show: str, rows: list[SchoolRow]) -> bool:
    """Whether a school passes the page's filter: "unmatched" is a school with no partner in a role it wanted one
    in; "low score" is the costliest quarter of matched schools; "long distance" a pairing of 20 km or more."""
    if show == "undecided":
        return any(p["state"] == "proposed" for p in row.proposals)
    if show == "unmatched":
        return _without_partner(row)
    if show == "long_distance":
        return row.longest_km >= LONG_KM
    if show == "low_score":
        scores = sorted(r.score for r in rows if r.proposals)
        return bool(row.proposals) and bool(scores) and row.score >= scores[int(0.75 * (len(scores) - 1))]
    return True


def summary(round_: t.Round, rows: list[SchoolRow]) -> dict[str, Any]:
    """Matched, unmatched with reasons, travel, changes since last term, Gatsby 5 and 6 coverage. Travel is
    worked out from what the viewer may see of each pairing (for a non-admin, advisers' bands)."""
    live = [p for r in rows for p in r.proposals if p["state"] != "rejected"]
    km = [d for d in map(travel_km, live) if d is not None]
    matched = {role: len({p["school_id"] for p in live if p["role"] == role}) for role in ("adviser", "cornerstone")}
    reasons = Counter(f"{u.role}: {u.reason.replace('_', ' ')}" for r in rows for u in r.unmatched)
    stats = round_.summary.get("stats", {})
    low = [r for r in rows if _low_encounters(r.school)]
    after = {r.school.id for r in rows
             if any(p["role"] == "cornerstone" and p["state"] != "rejected" for p in r.proposals)}
    exact = sees_homes(principal().role)
    return {
        "schools": len(rows), "matched": matched, "reasons": dict(sorted(reasons.items())),
        "mean_km": sum(km) / len(km) if km else None, "worst_km": max(km) if km else None,
        "worst": (f"{max(km):.1f} km" if exact else band_label(max(km))) if km else None,
        "changes": {k: stats.get(k) for k in ("kept_pairings", "changed_pairings", "new_pairings")},
        "states": dict(Counter(p["state"] for r in rows for p in r.proposals)),
        "gatsby": {"low": len(low), "before": _before(round_, low),
                   "after": sum(r.school.id in after for r in low)},
        "status": round_.summary.get("status"), "gap": round_.summary.get("gap"),
    }


def _low_encounters(school: t.School) -> bool:
    return low_on_encounters(school)


def _before(round_: t.Round, low: list[SchoolRow]) -> int:
    """Low schools that had a Cornerstone when the round was solved (its stored baseline: publishing replaces the
    current partners); a round never solved reads today's partners."""
    stored = round_.summary.get("baseline", {}).get("gatsby_low_with_cornerstone")
    return int(stored) if stored is not None else sum(bool(r.school.current_cornerstones) for r in low)


def _without_partner(row: SchoolRow) -> bool:
    """True when the school has no partner at all in a role it wanted one in (not merely a second slot open)."""
    have = {p["role"] for p in row.proposals if p["state"] != "rejected"}
    return any(u.role not in have for u in row.unmatched)


def partner_names(hub_id: str) -> dict[str, str]:
    names = {a.id: a.name or a.id for a in db().scalars(select(t.Adviser).where(t.Adviser.hub_id == hub_id))}
    names |= {e.id: e.name for e in db().scalars(select(t.Employer).where(t.Employer.hub_id == hub_id))}
    return names


def map_content(round_: t.Round) -> tuple[list[Place], list[Pairing]]:
    """The round's places and pairings for the map. Advisers' homes are personal data: only an admin's map shows
    them (to about a kilometre); everyone else sees the schools and the Cornerstone Employers' sites."""
    rows = school_rows(round_)
    places = [Place(r.school.id, r.school.name, "school", r.school.lat, r.school.lon, _without_partner(r))
              for r in rows]
    used = defaultdict(set)
    for r in rows:
        for p in r.proposals:
            used[p["role"]].add(p["partner_id"])
    advisers: Iterable[t.Adviser] = db().scalars(select(t.Adviser).where(t.Adviser.hub_id == round_.hub_id)) \
        if sees_homes(principal().role) else []
    for a in advisers:
        if a.id in used["adviser"]:
            places.append(Place(a.id, a.name or a.id, "adviser", round(a.lat, 2), round(a.lon, 2)))
    for e in db().scalars(select(t.Employer).where(t.Employer.hub_id == round_.hub_id)):
        if e.id in used["cornerstone"] and e.sites:
            places.append(Place(e.id, e.name, "cornerstone", e.sites[0]["lat"], e.sites[0]["lon"]))
    pairings = [Pairing(p["school_id"], p["partner_id"], p["state"]) for r in rows for p in r.proposals]
    return places, pairings

