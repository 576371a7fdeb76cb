"""The coordinator's review page: a round's proposals on a map, decisions in a click.

Server-rendered (Jinja) with a little plain JavaScript; no build step. The page signs in with the same API tokens
(kept in an HttpOnly, SameSite=Strict cookie) and the same hub scoping; its buttons call the JSON API with a CSRF
header, so a decision from the page is exactly a decision through the API: ETag-checked and audited.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from flask import Blueprint, Response, abort, g, jsonify, make_response, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from api import hub_lead
from api.auth import COOKIE, digest, principal, visible_round
from api.context import db
from api.gapmap import gap_markers
from api.maps import Pairing, Place, build_map, legend_items, swatch, to_png, to_svg
from api.visibility import for_viewer, orm_dict
from api.wording import alternative_words, cost_words, distance_words, sorted_alternatives, weights
from matcher.geo import haversine_km
from models import tables as t
from models.geocode import outcode, towns
from models.privacy import BANDS, band_label, sees_homes
from models.repository import low_on_encounters

ui = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")
FILTERS = {"all": "All schools (A–Z)", "undecided": "Undecided", "unmatched": "Without a partner",
           "weakest": "Weakest matches (by cost)", "long_distance": "Long distances (by distance)"}
LONG_KM = 20.0
WEAKEST_SHARE = 0.25  # the "weakest matches" filter: the costliest quarter of the round's pairings
PER_PAGE = 40  # schools per page: a 155-school hub reads as four pages, each as quick to load as a small hub


@dataclass
class SchoolRow:
    """One school of the round as the page shows it."""

    school: t.School
    proposals: list[dict[str, Any]] = field(default_factory=list)  # as the viewer may see them (api.proposals)
    unmatched: list[t.Unmatched] = field(default_factory=list)
    town: str = ""
    matching: set[int] = field(default_factory=set)  # the proposals the page's filter picks (a batch approves these)

    @property
    def live(self) -> list[dict[str, Any]]:
        return [p for p in self.proposals if p["state"] != "rejected"]

    @property
    def worst_cost(self) -> float:
        return max((p["cost"] for p in self.live), default=0.0)

    @property
    def longest_km(self) -> float:
        return max((travel_km(p) or 0.0 for p in self.live), default=0.0)


TYPICAL_KM = {band.label: band.typical_km for band in BANDS}


def travel_km(proposal: dict[str, Any]) -> float | None:
    """A proposal's distance as the viewer knows it: exact, or the typical distance of its band."""
    if proposal["distance_km"] is not None:
        return float(proposal["distance_km"])
    return TYPICAL_KM.get(proposal.get("distance_band") or "")


@ui.context_processor
def wording() -> dict[str, Any]:
    """The words for scores and alternatives (``api.wording``), for the templates."""
    return {"cost_words": cost_words, "alternative_words": alternative_words, "distance_words": distance_words,
            "sorted_alternatives": sorted_alternatives, "when": when}


def when(moment: Any) -> str:
    """A decision's time as a coordinator reads it: "2 Dec 14:05" (UTC)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.day} {moment:%b %H:%M}"


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
    """The rounds the viewer may see, each with its hub's name, its decisions made and its last solve."""
    who = principal()
    query = select(t.Round).order_by(t.Round.hub_id, t.Round.id.desc())
    if who.role != "admin":
        query = query.where(t.Round.hub_id == who.hub_id)
    rounds = list(db().scalars(query))
    ids = [r.id for r in rounds]
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for round_id, state, n in db().execute(select(t.Proposal.round_id, t.Proposal.state, func.count())
                                           .where(t.Proposal.round_id.in_(ids))
                                           .group_by(t.Proposal.round_id, t.Proposal.state)):
        counts[round_id][state] = n
    solved = dict(db().execute(select(t.Job.round_id, func.max(t.Job.finished_at))
                               .where(t.Job.round_id.in_(ids), t.Job.kind == "solve", t.Job.state == "succeeded")
                               .group_by(t.Job.round_id)).all())
    hubs = {h.id: h.name for h in db().scalars(select(t.Hub))}
    listed = [{"round": r, "hub": hubs.get(r.hub_id, r.hub_id), "total": sum(counts[r.id].values()),
               "decided": sum(counts[r.id].values()) - counts[r.id]["proposed"], "solved_at": solved.get(r.id)}
              for r in rounds]
    return render_template("index.html", rounds=listed, who=who, csrf=g.get("csrf", ""))


@ui.get("/rounds/<int:round_id>")
def round_page(round_id: int) -> str:
    round_ = visible_round(round_id)
    view = review_view(round_)
    return render_template("round.html", **view, filters=FILTERS, csrf=g.get("csrf", ""))


@ui.get("/rounds/<int:round_id>/live")
def round_live(round_id: int) -> Response:
    """The parts of the page a decision changes, rendered again: the summary (with the decided-of-total progress)
    and the map. The page swaps them in after each decision, so what the coordinator sees is never stale."""
    round_ = visible_round(round_id)
    view = review_view(round_)
    return jsonify({"summary": render_template("parts/summary.html", **view),
                    "map": view["map_svg"], "solves": round_.solves, "state": round_.state})


def review_view(round_: t.Round) -> dict[str, Any]:
    """Everything the round page renders, for the filter and page of the request."""
    show = request.args.get("show", "all")
    if show not in FILTERS:
        abort(400)
    number = request.args.get("page", "1")
    if number != "all" and (not number.isdigit() or int(number) < 1):
        abort(400)
    rows = school_rows(round_)
    shown = pick(rows, show)
    per_page = (len(shown) or 1) if number == "all" else PER_PAGE  # "all": one page, to print or search in
    pages = max(1, -(-len(shown) // per_page))
    page = 1 if number == "all" else min(int(number), pages)
    drawing = build_map(*map_content(round_, rows), gap_markers(round_, request.args.get("gaps")))
    title = map_title(round_)
    names = partner_names(round_.hub_id)
    lead = hub_lead.panel(round_, rows, names) if hub_lead.leads(principal().role) else None
    return {"lead": lead, "round": round_, "hub_name": hub_name(round_),
            "rows": shown[(page - 1) * per_page:page * per_page], "matching": len(shown),
            "total": len(rows), "show": show, "page": page, "pages": pages, "summary": summary(round_, rows),
            "names": names, "who": principal(), "weights": weights(round_.policy),
            "map_svg": to_svg(drawing, title, inline=True, links=row_links(round_, rows, shown, show, page, per_page)),
            "all": number == "all",
            "legend": [(swatch(key), text) for key, text in legend_items(drawing)],
            "districts": sorted((d.name, d.code) for d in drawing.districts)}


def hub_name(round_: t.Round) -> str:
    hub = db().get(t.Hub, round_.hub_id)
    return hub.name if hub else round_.hub_id


def map_title(round_: t.Round) -> str:
    """The map's title, drawn into its downloads for a Hub Lead's report: the hub's name, the term, the state."""
    return f"{hub_name(round_)} · {round_.term}: {round_.state} pairings"


def row_links(round_: t.Round, rows: list[SchoolRow], shown: list[SchoolRow], show: str, page: int,
              per_page: int) -> dict[str, str]:
    """Where each school's point on the map leads: its row on this page, else the page of this filter (or of
    all schools, A–Z, when the filter leaves it out) that holds it."""
    links = {r.school.id: (f"?show=all&page={i // PER_PAGE + 1}", r.school.id) for i, r in enumerate(rows)}
    links |= {r.school.id: (f"?show={show}&page={i // PER_PAGE + 1}", r.school.id) for i, r in enumerate(shown)}
    here = {r.school.id for r in shown[(page - 1) * per_page:page * per_page]}
    base = url_for("ui.round_page", round_id=round_.id)
    return {sid: f"#school-{sid}" if sid in here else f"{base}{query}#school-{sid}"
            for sid, (query, _) in links.items()}


def school_rows(round_: t.Round) -> list[SchoolRow]:
    rows = {s.id: SchoolRow(s, town=town_of(s.postcode)) for s in db().scalars(
        select(t.School).where(t.School.hub_id == round_.hub_id).order_by(t.School.name))}
    proposals = db().scalars(select(t.Proposal).where(t.Proposal.round_id == round_.id)
                             .order_by(t.Proposal.role, t.Proposal.id))
    for p in for_viewer([orm_dict(p) for p in proposals], round_.hub_id):
        if p["school_id"] in rows:
            rows[p["school_id"]].proposals.append(p)
    for u in db().scalars(select(t.Unmatched).where(t.Unmatched.round_id == round_.id)):
        if u.school_id in rows:
            rows[u.school_id].unmatched.append(u)
    return list(rows.values())


def pick(rows: list[SchoolRow], show: str) -> list[SchoolRow]:
    """The schools a filter shows, in the filter's order, each with the proposals it picks marked.

    "Undecided": schools with a proposal still to decide; "without a partner": a school with no partner in a role
    it wanted one in; "weakest matches": the costliest quarter of the round's live pairings, the schools holding
    them costliest first; "long distances": pairings of 20 km or more, longest first. Only the picked pairings
    count as shown, so approving what is shown approves exactly those.
    """
    for row in rows:
        row.matching = set()
    if show == "weakest":
        costs = sorted(p["cost"] for r in rows for p in r.live)
        cut = costs[int((1 - WEAKEST_SHARE) * (len(costs) - 1))] if costs else 0.0
        for row in rows:
            row.matching = {p["id"] for p in row.live if p["cost"] >= cut}
        return sorted((r for r in rows if r.matching), key=lambda r: -r.worst_cost)
    if show == "long_distance":
        for row in rows:
            row.matching = {p["id"] for p in row.live if (travel_km(p) or 0.0) >= LONG_KM}
        return sorted((r for r in rows if r.matching), key=lambda r: -r.longest_km)
    if show == "undecided":
        kept = [r for r in rows if any(p["state"] == "proposed" for p in r.proposals)]
    elif show == "unmatched":
        kept = [r for r in rows if _without_partner(r)]
    else:
        kept = rows
    for row in kept:
        row.matching = {p["id"] for p in row.proposals}
    return kept


def town_of(postcode: str | None) -> str:
    """The town of a postcode's district (the postcode-district table), or "" when unknown."""
    return towns().get(outcode(postcode), "") if postcode else ""


def summary(round_: t.Round, rows: list[SchoolRow]) -> dict[str, Any]:
    """Matched, unmatched with reasons (counted in schools), travel, changes since last term, Gatsby 5 and 6
    coverage, decisions made. Travel is worked out from what the viewer may see of each pairing (for a non-admin,
    advisers' bands)."""
    live = [p for r in rows for p in r.live]
    km = [d for d in map(travel_km, live) if d is not None]
    matched = {role: len({p["school_id"] for p in live if p["role"] == role}) for role in ("adviser", "cornerstone")}
    reasons = Counter(reason for r in rows for reason in
                      {f"{u.role}: {u.reason.replace('_', ' ')}" for u in r.unmatched})
    stats = round_.summary.get("stats", {})
    low = [r for r in rows if _low_encounters(r.school)]
    after = {r.school.id for r in rows if any(p["role"] == "cornerstone" for p in r.live)}
    exact = sees_homes(principal().role)
    states = Counter(p["state"] for r in rows for p in r.proposals)
    proposals = sum(states.values())
    return {
        "schools": len(rows), "matched": matched, "reasons": dict(sorted(reasons.items())),
        "mean_km": sum(km) / len(km) if km else None, "worst_km": max(km) if km else None,
        "worst": (f"{max(km):.1f} km" if exact else band_label(max(km))) if km else None,
        "changes": {k: stats.get(k) for k in ("kept_pairings", "changed_pairings", "new_pairings")},
        "states": dict(states), "proposals": proposals, "decided": proposals - states.get("proposed", 0),
        "gatsby": {"low": len(low), "before": _before(round_, low),
                   "after": sum(r.school.id in after for r in low)},
        "status": round_.summary.get("status"), "gap": round_.summary.get("gap"), "solved": round_.solves > 0,
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
    have = {p["role"] for p in row.live}
    return any(u.role not in have for u in row.unmatched)


def partner_names(hub_id: str) -> dict[str, str]:
    names = {a.id: a.name or a.id for a in db().scalars(select(t.Adviser).where(t.Adviser.hub_id == hub_id))}
    names |= {e.id: e.name for e in db().scalars(select(t.Employer).where(t.Employer.hub_id == hub_id))}
    return names


@ui.get("/rounds/<int:round_id>/map.<fmt>")
def round_map(round_id: int, fmt: str) -> Response:
    """The map as a file for a Hub Lead's report: a title, the term and the legend are drawn into it."""
    round_ = visible_round(round_id)
    if fmt not in ("svg", "png"):
        abort(404)
    drawing = build_map(*map_content(round_, school_rows(round_)), gap_markers(round_, request.args.get("gaps")))
    title = map_title(round_)
    body: str | bytes
    if fmt == "svg":
        body, mimetype = to_svg(drawing, title), "image/svg+xml"
    else:
        body, mimetype = to_png(drawing, title), "image/png"
    response = make_response(body)
    response.mimetype = mimetype
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{round_.hub_id}-{round_.term}-map.{fmt}"'
    return response


def map_content(round_: t.Round, rows: list[SchoolRow]) -> tuple[list[Place], list[Pairing]]:
    """The round's places and pairings for the map. A Cornerstone line goes to the employer's site nearest the
    school. Advisers' homes are personal data: only an admin's map places them (to about a kilometre); anyone
    else's map draws an adviser pairing as a stub at the school that says its distance band (``api.maps``)."""
    names = partner_names(round_.hub_id)
    places = [Place(r.school.id, r.school.name, "school", r.school.lat, r.school.lon, _without_partner(r), r.town)
              for r in rows]
    employers = {e.id: e for e in db().scalars(select(t.Employer).where(t.Employer.hub_id == round_.hub_id))}
    exact = sees_homes(principal().role)
    homes = {a.id: a for a in db().scalars(select(t.Adviser).where(t.Adviser.hub_id == round_.hub_id))} \
        if exact else {}
    sites: dict[str, Place] = {}
    pairings = []
    for r in rows:
        advisers = 0
        for p in r.proposals:
            partner = names.get(p["partner_id"], p["partner_id"])
            label = f"{r.school.name} – {partner}: {distance_words(p['distance_km'], p.get('distance_band'))}, " \
                    f"{p['state']}"
            if p["role"] == "cornerstone" and p["partner_id"] in employers:
                site = _nearest_site(employers[p["partner_id"]], r.school)
                if site is not None:
                    sites.setdefault(site.id, site)
                    pairings.append(Pairing(r.school.id, site.id, p["state"], label))
            elif p["role"] == "adviser" and exact and p["partner_id"] in homes:
                a = homes[p["partner_id"]]
                sites.setdefault(a.id, Place(a.id, partner, "adviser", round(a.lat, 2), round(a.lon, 2)))
                pairings.append(Pairing(r.school.id, a.id, p["state"], label))
            elif p["role"] == "adviser":
                pairings.append(Pairing(r.school.id, None, p["state"], label, p.get("distance_band"), advisers))
                advisers += 1
    return places + list(sites.values()), pairings


def _nearest_site(employer: t.Employer, school: t.School) -> Place | None:
    """The employer's site nearest the school, as a place of its own (an employer may have many sites)."""
    if not employer.sites:
        return None
    lat = np.array([s["lat"] for s in employer.sites])
    lon = np.array([s["lon"] for s in employer.sites])
    k = int(np.argmin(haversine_km(school.lat, school.lon, lat, lon)))
    site = employer.sites[k]
    where = site.get("name") or site.get("postcode") or ""
    label = f"{employer.name}{f' ({where})' if where else ''}"
    return Place(f"{employer.id}@{k}", label, "cornerstone", float(site["lat"]), float(site["lon"]))
