"""Why: the components of each pairing, the reason a school slot stayed open, and the next best partners.

Reasons for an open slot, checked in this order (for an optimal matching they are exhaustive, because a free
partner within reach would otherwise have been used):
- ``out_of_reach``: no partner of the role within travel distance (the nearest one's distance is given);
- ``blocked_by_rule``: partners within reach, but every one removed by a rule (conflict, forbidden, skills...);
- ``company_cap``: a partner with room is within reach, but its company has reached max_schools_per_company;
- ``partners_full``: every partner within reach is at capacity with schools that rank higher or cost less.

Reasons for a willing partner (available, with capacity) left without a school, checked in this order (exhaustive
for an optimal matching, because an idle partner with a school in reach that had room would otherwise have filled
it, and the objective prefers a new volunteer's first school to another's second):
- ``no_school_in_reach``: no school within the partner's travel distance (the nearest one's distance is given);
- ``blocked_by_rule``: schools within reach, but every pair removed by a rule (conflict, skills, forbidden...);
- ``not_enough_places``: every school within reach needs more encounter places than the employer offers;
- ``company_cap``: the adviser's company has reached max_schools_per_company;
- ``schools_taken``: every school within reach has all its slots taken, by partners nearer, better fitting or
  needed there to cover the most schools;
- ``sector_taken``: the schools with a slot left already have a partner in this sector (distinct sectors).
Unavailable advisers and partners with no capacity are not idle: they did not offer a school this round.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from matcher.costs import SCALE
from matcher.geo import km_of_chord, unit_vectors
from matcher.solvers.base import RoleInput, filled_per_school
from models.domain import Assignment, Idle, Problem, Unmatched
from models.privacy import ADVISER, area_of, band_of

ROLE_WORD = {"adviser": ("adviser", "advisers"), "cornerstone": ("Cornerstone Employer", "Cornerstone Employers")}


def assignments(problem: Problem, inp: RoleInput, chosen: np.ndarray, n_alternatives: int = 3) -> list[Assignment]:
    """One Assignment per chosen candidate, with its cost components and the next best alternatives."""
    g, costs = inp.graph, inp.costs
    rows = np.flatnonzero(chosen)
    alts = alternatives(inp, chosen, n_alternatives) if n_alternatives else {}
    school_ids = [s.id for s in problem.schools]
    return [
        Assignment(
            school=school_ids[s],
            partner=g.partners.ids[p],
            role=g.role,
            cost=units / SCALE,
            components=comps,
            distance_km=km,
            locked=locked,
            alternatives=tuple(alts.get(c, ())),
        )
        for c, s, p, units, comps, km, locked in zip(
            rows.tolist(),
            g.school[rows].tolist(),
            g.partner[rows].tolist(),
            costs.units[rows].tolist(),
            costs.of(rows),
            g.distance_km[rows].tolist(),
            g.locked[rows].tolist(),
            strict=True,
        )
    ]


def alternatives(inp: RoleInput, chosen: np.ndarray, k: int) -> dict[int, list[dict]]:
    """For each chosen candidate, the k cheapest other candidates of its school: the cost difference, the distance,
    and whether that partner is full (a cheaper alternative is always full, or taken by a needier school).

    Vectorised: one sort of the unchosen candidates by (school, cost), then a (chosen x k) block of positions in it,
    so only the few thousand listed alternatives are ever turned into Python objects.
    """
    g, units = inp.graph, inp.costs.units
    rows = np.flatnonzero(chosen)
    if not len(rows) or k <= 0:
        return {}
    order = inp.by_school_and_cost
    order = order[~chosen[order]]
    starts = np.searchsorted(g.school[order], np.arange(g.n_schools + 1))
    school = g.school[rows]
    at = starts[school][:, None] + np.arange(k)
    valid = at < starts[school + 1][:, None]
    alt = order[at[valid]]
    owner = np.repeat(np.arange(len(rows)), valid.sum(axis=1))
    room, company_full = _room_left(inp, chosen)
    full = room[g.partner[alt]] + 1e-9 < g.load[alt]
    if company_full is not None:
        full |= company_full[g.partners.company[g.partner[alt]]]
    out: dict[int, list[dict]] = {c: [] for c in rows.tolist()}
    listed = zip(
        rows[owner].tolist(),
        [g.partners.ids[j] for j in g.partner[alt].tolist()],
        ((units[alt] - units[rows[owner]]) / SCALE).tolist(),
        np.round(g.distance_km[alt], 2).tolist(),
        full.tolist(),
        strict=True,
    )
    for c, partner, delta, km, is_full in listed:
        out[c].append({"partner": partner, "cost_delta": delta, "distance_km": km, "full": is_full})
    return out


def unmatched(problem: Problem, inp: RoleInput, chosen: np.ndarray, proven: bool) -> list[Unmatched]:
    """One Unmatched per school slot left open, with the reason and a sentence a Hub Lead can act on."""
    g, v = inp.graph, inp.values
    open_left = v.open_slots - filled_per_school(inp, chosen)
    schools = np.flatnonzero(open_left > 0)
    if not len(schools):
        return []
    nearest = _nearest_partner_km(problem, inp, schools)
    counts = _partner_counts(inp, chosen)
    one, many = ROLE_WORD[g.role]
    out = []
    for s, km in zip(schools.tolist(), nearest.tolist(), strict=True):
        reason, detail = _reason(inp, s, [int(c[s]) for c in counts], km, one, many, proven)
        out += [Unmatched(school=problem.schools[s].id, role=g.role, reason=reason, detail=detail)] * int(open_left[s])
    return out


def _partner_counts(inp: RoleInput, chosen: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per school: candidates left after the rules, those not chosen with room left for it, and those of them
    whose company is under its cap (equal to the previous without a cap); counted for every school at once."""
    g = inp.graph
    room, company_full = _room_left(inp, chosen)
    with_room = ~chosen & (room[g.partner] + 1e-9 >= g.load)
    under_cap = with_room if company_full is None else with_room & ~company_full[g.partners.company[g.partner]]
    candidates = np.bincount(g.school, minlength=g.n_schools)
    return candidates, *(np.bincount(g.school[m], minlength=g.n_schools) for m in (with_room, under_cap))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _reason(
    inp: RoleInput, s: int, counts: list[int], km: float, one: str, many: str, proven: bool
) -> tuple[str, str]:
    """The first reason that holds for school ``s``, given its counts from ``_partner_counts``."""
    g = inp.graph
    reach = int(g.in_reach[s])
    candidates, with_room, under_cap = counts
    if reach == 0:
        where = f"the nearest is {_away(km, g.role)} away" if np.isfinite(km) else f"the hub has no {many}"
        return "out_of_reach", f"No {one} within travel distance; {where}."
    if not candidates:
        rules = ", ".join(f"{int(n[s])} {name}" for name, n in g.removed.items() if n[s])
        return "blocked_by_rule", f"{_count(reach, one, many)} within reach, all removed by rules ({rules})."
    if not with_room:
        return (
            "partners_full",
            f"All {_count(candidates, one, many)} within reach are at capacity with higher-priority schools.",
        )
    if not under_cap:
        return "company_cap", (
            f"{_count(with_room, one, many)} within reach with room, but their companies have reached "
            "max_schools_per_company."
        )
    if inp.distinct_sectors and g.slots > 1:
        return (
            "sector_taken",
            f"{_count(with_room, one, many)} within reach with room, but only in sectors already taken.",
        )
    if proven:
        return "unassigned", f"{_count(with_room, one, many)} within reach with room; please report this as a bug."
    return "not_reached", "The solver stopped at its time limit before placing this school."


def _away(km: float, role: str) -> str:
    """How far the nearest partner is, in a text every reader of the round may see: an adviser's distance is a
    band (their home is personal data, ``models.privacy``), a Cornerstone Employer's site is exact."""
    return band_of(km).label if role == ADVISER else f"{km:.1f} km"


def _room_left(inp: RoleInput, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Capacity left per partner, and which companies are full (None without a cap)."""
    g = inp.graph
    used = np.bincount(g.partner[chosen], weights=g.load[chosen], minlength=g.partners.size)
    company_full = None
    if g.partners.company_cap is not None and len(g.partners.company_ids):
        taken = np.bincount(g.partners.company[g.partner[chosen]], minlength=len(g.partners.company_ids))
        company_full = taken >= g.partners.company_cap
    return g.partners.capacity - used, company_full


def _nearest_partner_km(problem: Problem, inp: RoleInput, schools: np.ndarray) -> np.ndarray:
    """Distance from each school to the nearest site of any partner of the role (inf when there is none)."""
    p = inp.graph.partners
    if not len(p.site_lat):
        return np.full(len(schools), np.inf)
    lat = np.array([problem.schools[s].lat for s in schools])
    lon = np.array([problem.schools[s].lon for s in schools])
    chords, _ = cKDTree(unit_vectors(p.site_lat, p.site_lon)).query(unit_vectors(lat, lon), k=1)
    return km_of_chord(chords)


def idle(problem: Problem, inp: RoleInput, chosen: np.ndarray, proven: bool) -> list[Idle]:
    """One Idle per willing partner given no school, with the reason and a sentence a Hub Lead can act on.

    Counted for every partner at once (one bincount per condition over the candidate arrays); only the idle
    partners, a few hundred at most, become Python objects."""
    g, p = inp.graph, inp.graph.partners
    used = np.bincount(g.partner[chosen], minlength=p.size) > 0
    partners = np.flatnonzero(~p.unavailable & (p.capacity > 0) & ~used)
    if not len(partners):
        return []
    open_left = inp.values.open_slots - filled_per_school(inp, chosen)
    fits = g.load <= p.capacity[g.partner] + 1e-9
    masks = (np.ones(g.size, dtype=bool), fits, fits & (open_left[g.school] > 0))
    counts = [np.bincount(g.partner[m], minlength=p.size) for m in masks]
    _, company_full = _room_left(inp, chosen)
    exact_km, area_km = _nearest_school_km(problem, inp, partners)
    out = []
    for j, km, shown in zip(partners.tolist(), exact_km.tolist(), area_km.tolist(), strict=True):
        full = company_full is not None and bool(company_full[p.company[j]])
        reason, detail = _idle_reason(inp, j, [int(c[j]) for c in counts], full, (km, shown), proven)
        far = reason == "no_school_in_reach" and np.isfinite(km)
        out.append(
            Idle(
                partner=p.ids[j],
                role=g.role,
                reason=reason,
                detail=detail,
                distance_km=round(km, 2) if far else None,
                distance_band=band_of(shown).label if far else None,
            )
        )
    return out


def _idle_reason(
    inp: RoleInput, j: int, counts: list[int], company_full: bool, km: tuple[float, float], proven: bool
) -> tuple[str, str]:
    """The first reason that holds for idle partner ``j``, given its candidate counts (all, those whose load
    fits its capacity, and those of them at a school with a slot left) and the nearest school's distance (exact,
    and as every reader may see it)."""
    g = inp.graph
    one, many = ROLE_WORD[g.role]
    candidates, fitting, open_schools = counts
    if not candidates:
        rules = ", ".join(f"{int(n[j])} {name}" for name, n in g.partner_removed.items() if n[j])
        if rules:
            return "blocked_by_rule", f"Schools within reach, all removed by rules ({rules})."
        if km[0] <= g.partners.radius_km[j]:
            return "blocked_by_rule", f"The schools within reach have imported pair costs, none with this {one}."
        where = f"the nearest is {_away(km[1], g.role)} away" if np.isfinite(km[1]) else "the hub has no schools"
        return "no_school_in_reach", f"No school within travel distance; {where}."
    schools = _count(candidates, "school", "schools")
    if not fitting:
        return "not_enough_places", f"All {schools} within reach need more encounter places than this {one} offers."
    if company_full:
        company = g.partners.company_ids[g.partners.company[j]]
        return "company_cap", f"{company} has reached max_schools_per_company ({g.partners.company_cap})."
    if not open_schools:
        which = "The only school within reach is" if fitting == 1 else f"All {fitting} schools within reach are"
        return "schools_taken", f"{which} taken by {many} nearer, better fitting or needed there to cover more schools."
    if inp.distinct_sectors and g.slots > 1:
        return "sector_taken", "The schools within reach with a slot left already have a partner in this sector."
    if proven:
        left = _count(open_schools, "school", "schools")
        return "unassigned", f"{left} within reach with a slot left; please report this as a bug."
    return "not_reached", f"The solver stopped at its time limit before placing this {one}."


def _nearest_school_km(problem: Problem, inp: RoleInput, partners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each partner's nearest site to the nearest school (inf without schools), and the same from
    the adviser's area (``models.privacy.area_of``; an employer's sites are business addresses, kept exact)."""
    p = inp.graph.partners
    if not problem.schools:
        inf = np.full(len(partners), np.inf)
        return inf, inf
    lat, lon = np.array([s.lat for s in problem.schools]), np.array([s.lon for s in problem.schools])
    tree = cKDTree(unit_vectors(lat, lon))
    sites = np.flatnonzero(np.isin(p.site_owner, partners))
    owner = np.searchsorted(partners, p.site_owner[sites])
    exact = np.full(len(partners), np.inf)
    np.minimum.at(exact, owner, km_of_chord(tree.query(unit_vectors(p.site_lat[sites], p.site_lon[sites]), k=1)[0]))
    if p.role != ADVISER:
        return exact, exact
    areas = np.array([area_of(la, lo) for la, lo in zip(p.site_lat[sites], p.site_lon[sites], strict=True)])
    shown = np.full(len(partners), np.inf)
    np.minimum.at(shown, owner, km_of_chord(tree.query(unit_vectors(areas[:, 0], areas[:, 1]), k=1)[0]))
    return exact, shown
