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

Everything is counted from arrays, and only for the chosen, open and idle few: a school's candidates are one
range of positions (the graph is sorted by school), its next best partners the head of that range in
``RoleInput.by_school_and_cost``, and nearest distances come from a brute-force search in bounded blocks. Only the
records a reader gets become Python objects: a national round of 10 million candidates explains in under 0.2 s
(beyond the shared sort), and one whose whole hub is out of reach in under a second, within a few MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from matcher.costs import SCALE
from matcher.geo import haversine_km, unit_vectors
from matcher.solvers.base import RoleInput
from models.domain import Assignment, Idle, Problem, Unmatched
from models.privacy import ADVISER, area_of, band_of

ROLE_WORD = {"adviser": ("adviser", "advisers"), "cornerstone": ("Cornerstone Employer", "Cornerstone Employers")}
BLOCK = 1 << 18  # dot products per block of the nearest search: 2 MB, which stays in the cache at any size
COUNT_BLOCK = 1 << 20  # candidates counted at a time for many schools or partners: 8 MB per array at any size


@dataclass(frozen=True)
class _Choice:
    """What the explanations read of a choice, computed from its positions rather than from whole-graph masks:
    the chosen positions, each school's open slots left, each partner's capacity left, and which companies are
    full (None without a company cap)."""

    rows: np.ndarray
    open_left: np.ndarray
    room: np.ndarray
    company_full: np.ndarray | None


def _choice(inp: RoleInput, chosen: np.ndarray) -> _Choice:
    """The choice's positions and counts; the slots filled are those of ``filled_per_school`` (free pairs only:
    a locked pair's slot is not an open one)."""
    g, p = inp.graph, inp.graph.partners
    rows = np.flatnonzero(chosen)
    free = rows[~g.locked[rows]]
    open_left = inp.values.open_slots - np.bincount(g.school[free], minlength=g.n_schools)
    used = np.bincount(g.partner[rows], weights=g.load[rows], minlength=p.size)
    company_full = None
    if p.company_cap is not None and len(p.company_ids):
        taken = np.bincount(p.company[g.partner[rows]], minlength=len(p.company_ids))
        company_full = taken >= p.company_cap
    return _Choice(rows, open_left, p.capacity - used, company_full)


def _school_starts(inp: RoleInput) -> np.ndarray:
    """Where each school's candidates begin (and, one further, end): the graph is sorted by school, so they are
    the range ``starts[s]:starts[s + 1]``, both of positions and of ``by_school_and_cost``."""
    return np.searchsorted(inp.graph.school, np.arange(inp.graph.n_schools + 1))


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The positions ``lo[i]:hi[i]`` of every i, concatenated, without a Python loop."""
    lens = hi - lo
    ends = np.cumsum(lens)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - lens - lo, lens)


def assignments(problem: Problem, inp: RoleInput, chosen: np.ndarray, n_alternatives: int = 3) -> list[Assignment]:
    """One Assignment per chosen candidate, with its cost components and the next best alternatives."""
    g, costs = inp.graph, inp.costs
    rows = np.flatnonzero(chosen)
    alts = alternatives(inp, chosen, n_alternatives)
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
            alternatives=tuple(alt),
        )
        for s, p, units, comps, km, locked, alt in zip(
            g.school[rows].tolist(),
            g.partner[rows].tolist(),
            costs.units[rows].tolist(),
            costs.of(rows),
            g.distance_km[rows].tolist(),
            g.locked[rows].tolist(),
            alts,
            strict=True,
        )
    ]


def alternatives(inp: RoleInput, chosen: np.ndarray, k: int) -> list[list[dict]]:
    """For each chosen candidate (in position order), the k cheapest other candidates of its school: the cost
    difference, the distance, and whether that partner is full (a cheaper alternative is always full, or taken by
    a needier school).

    A school's candidates are one range of ``by_school_and_cost``, cheapest first; the k cheapest unchosen ones lie
    within its first k + (chosen of that school) entries. So one (chosen x that width) block of positions is read,
    never the whole graph, and only the listed alternatives become Python objects.
    """
    g, units = inp.graph, inp.costs.units
    if k <= 0 or not chosen.any():
        return [[] for _ in range(np.count_nonzero(chosen))]
    choice = _choice(inp, chosen)
    rows = choice.rows
    starts = _school_starts(inp)
    school = g.school[rows]
    at = starts[school][:, None] + np.arange(k + int(np.bincount(school).max()))
    inside = at < starts[school + 1][:, None]
    candidate = inp.by_school_and_cost[np.where(inside, at, 0)]
    listed = inside & ~chosen[candidate]
    listed &= np.cumsum(listed, axis=1) <= k
    owner, column = np.nonzero(listed)
    alt = candidate[owner, column]
    partner = g.partner[alt]
    full = choice.room[partner] + 1e-9 < g.load[alt]
    if choice.company_full is not None:
        full |= choice.company_full[g.partners.company[partner]]
    ids = g.partners.ids
    found = [
        {"partner": ids[j], "cost_delta": delta, "distance_km": km, "full": is_full}
        for j, delta, km, is_full in zip(
            partner.tolist(),
            ((units[alt] - units[rows[owner]]) / SCALE).tolist(),
            np.round(g.distance_km[alt], 2).tolist(),
            full.tolist(),
            strict=True,
        )
    ]
    bounds = np.searchsorted(owner, np.arange(len(rows) + 1)).tolist()
    return [found[a:b] for a, b in pairwise(bounds)]


def unmatched(problem: Problem, inp: RoleInput, chosen: np.ndarray, proven: bool) -> list[Unmatched]:
    """One Unmatched per school slot left open, with the reason and a sentence a Hub Lead can act on."""
    g = inp.graph
    choice = _choice(inp, chosen)
    schools = np.flatnonzero(choice.open_left > 0)
    if not len(schools):
        return []
    nearest = _nearest_partner_km(problem, inp, schools)
    counts = _partner_counts(inp, chosen, choice, schools)
    one, many = ROLE_WORD[g.role]
    out = []
    for i, (s, km) in enumerate(zip(schools.tolist(), nearest.tolist(), strict=True)):
        reason, detail = _reason(inp, s, [int(c[i]) for c in counts], km, one, many, proven)
        out += [Unmatched(school=problem.schools[s].id, role=g.role, reason=reason, detail=detail)] * int(
            choice.open_left[s]
        )
    return out


def _partner_counts(
    inp: RoleInput, chosen: np.ndarray, choice: _Choice, schools: np.ndarray
) -> tuple[np.ndarray, ...]:
    """For each of ``schools``: candidates left after the rules, those not chosen with room left for it, and those
    of them whose company is under its cap (equal to the previous without a cap); read from the schools' own
    ranges of positions only, a group of schools of about ``COUNT_BLOCK`` candidates at a time."""
    g = inp.graph
    starts = _school_starts(inp)
    lo, hi = starts[schools], starts[schools + 1]
    counts = np.zeros((2, len(schools)), dtype=np.int64)
    for a, b in _groups(hi - lo):
        at = _ranges(lo[a:b], hi[a:b])
        owner = np.repeat(np.arange(b - a), hi[a:b] - lo[a:b])
        partner = g.partner[at]
        with_room = ~chosen[at] & (choice.room[partner] + 1e-9 >= g.load[at])
        under_cap = with_room
        if choice.company_full is not None:
            under_cap = with_room & ~choice.company_full[g.partners.company[partner]]
        counts[0, a:b] = np.bincount(owner[with_room], minlength=b - a)
        counts[1, a:b] = np.bincount(owner[under_cap], minlength=b - a)
    return hi - lo, counts[0], counts[1]


def _groups(sizes: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive groups ``[a, b)`` of items of the given sizes, each starting a new ``COUNT_BLOCK`` of their
    running total, so a group holds at most a block and one item: bounded memory, and one group for a few items."""
    if not len(sizes):
        return []
    block = (np.cumsum(sizes) - sizes) // COUNT_BLOCK
    edges = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), len(sizes)]
    return list(pairwise(edges))


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


def nearest_km(lat: np.ndarray, lon: np.ndarray, to_lat: np.ndarray, to_lon: np.ndarray) -> np.ndarray:
    """Great-circle distance from each point (lat, lon) to the nearest of the points (to_lat, to_lon); inf when
    there are none.

    Brute force, exact and bounded: the nearest point is the one of largest dot product of unit vectors (the
    chord between two points shrinks as it grows), found by one small matrix product per block of ``BLOCK`` pairs,
    so a whole hub out of reach (20,000 x 20,000) takes a fifth of a second in 2 MB. The distance to the point
    found is then measured by haversine, so the cancellation in 1 - dot never reaches it; that rounding can only
    pick, among points tied within 1e-15 in dot product, one a fraction of a millimetre farther at 1 km.
    """
    out = np.full(len(lat), np.inf)
    if not len(lat) or not len(to_lat):
        return out
    points, targets = unit_vectors(lat, lon), np.ascontiguousarray(unit_vectors(to_lat, to_lon).T)
    best = np.empty(len(lat), dtype=np.int64)
    step = max(1, BLOCK // len(to_lat))
    for i in range(0, len(lat), step):
        best[i : i + step] = np.argmax(points[i : i + step] @ targets, axis=1)
    return haversine_km(lat, lon, to_lat[best], to_lon[best])


def _nearest_partner_km(problem: Problem, inp: RoleInput, schools: np.ndarray) -> np.ndarray:
    """Distance from each school to the nearest site of any partner of the role (inf when there is none); for
    advisers, to the nearest adviser's area (``models.privacy.area_of``), as every distance a reader sees of an
    adviser is, so that no sentence narrows down where a volunteer lives."""
    p = inp.graph.partners
    lat = np.array([problem.schools[s].lat for s in schools.tolist()], dtype=np.float64)
    lon = np.array([problem.schools[s].lon for s in schools.tolist()], dtype=np.float64)
    if p.role != ADVISER or not len(schools):
        return nearest_km(lat, lon, p.site_lat, p.site_lon)
    areas = _areas(p.site_lat, p.site_lon)
    return nearest_km(lat, lon, areas[:, 0], areas[:, 1])


def _areas(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The (lat, lon) of the area of each point (``models.privacy.area_of``), one row per point."""
    return np.array(
        [area_of(la, lo) for la, lo in zip(lat.tolist(), lon.tolist(), strict=True)], dtype=np.float64
    ).reshape(-1, 2)


def idle(problem: Problem, inp: RoleInput, chosen: np.ndarray, proven: bool) -> list[Idle]:
    """One Idle per willing partner given no school, with the reason and a sentence a Hub Lead can act on.

    Counted for the idle partners only (``_idle_counts``); only the idle partners become Python objects."""
    g, p = inp.graph, inp.graph.partners
    choice = _choice(inp, chosen)
    used = np.bincount(g.partner[choice.rows], minlength=p.size) > 0
    partners = np.flatnonzero(~p.unavailable & (p.capacity > 0) & ~used)
    if not len(partners):
        return []
    counts = _idle_counts(inp, choice, partners)
    exact_km, area_km = _nearest_school_km(problem, inp, partners)
    out = []
    for j, km, shown in zip(partners.tolist(), exact_km.tolist(), area_km.tolist(), strict=True):
        full = choice.company_full is not None and bool(choice.company_full[p.company[j]])
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


def _idle_counts(inp: RoleInput, choice: _Choice, partners: np.ndarray) -> np.ndarray:
    """Per partner (zero but for ``partners``): its candidates, those whose load fits its capacity, and those of
    them at a school with a slot left, as three rows. One pass over the graph in blocks of ``COUNT_BLOCK``
    positions (a partner's candidates are spread over every school's range) that keeps only the given partners'."""
    g, p = inp.graph, inp.graph.partners
    is_given = np.zeros(p.size, dtype=bool)
    is_given[partners] = True
    counts = np.zeros((3, p.size), dtype=np.int64)
    for a in range(0, g.size, COUNT_BLOCK):
        at = a + np.flatnonzero(is_given[g.partner[a : a + COUNT_BLOCK]])
        partner = g.partner[at]
        fits = g.load[at] <= p.capacity[partner] + 1e-9
        counts[0] += np.bincount(partner, minlength=p.size)
        counts[1] += np.bincount(partner[fits], minlength=p.size)
        counts[2] += np.bincount(partner[fits & (choice.open_left[g.school[at]] > 0)], minlength=p.size)
    return counts


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
    lat = np.array([s.lat for s in problem.schools], dtype=np.float64)
    lon = np.array([s.lon for s in problem.schools], dtype=np.float64)
    sites = np.flatnonzero(np.isin(p.site_owner, partners))
    owner = np.searchsorted(partners, p.site_owner[sites])
    exact = np.full(len(partners), np.inf)
    np.minimum.at(exact, owner, nearest_km(p.site_lat[sites], p.site_lon[sites], lat, lon))
    if p.role != ADVISER:
        return exact, exact
    areas = _areas(p.site_lat[sites], p.site_lon[sites])
    shown = np.full(len(partners), np.inf)
    np.minimum.at(shown, owner, nearest_km(areas[:, 0], areas[:, 1], lat, lon))
    return exact, shown
