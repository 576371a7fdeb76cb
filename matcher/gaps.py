"""Where to recruit: the places where one new partner would cover the most schools a round leaves without one.

``covers`` for a place is exact: the increase in schools covered when a partner with the recruit's capacity and
travel radius is added there and the role is re-solved by the core's own solver. Only a few re-solves run, because
every candidate place first gets a cheap, valid upper bound on what it can cover:

- a new partner adds at most one school per unit of its capacity, so ``covers <= capacity``;
- an extra school is covered along an augmenting path that ends at the new partner, through a school within its
  radius; on a role whose pairs each take one unit of capacity (a flow), that school must be reachable in the
  residual network of the current optimum from a school left without one (``_reachable``). So
  ``covers <= min(capacity, |schools within R of the place that are reachable|)``. With loads (a generalised
  assignment) every open school within R counts.

The candidate places are provably enough for the best ``covers``: the value only depends on which reachable
schools lie within R of the place, and any disc can slide and turn, keeping the schools it holds, until one of
them is at its centre or two are on its rim. So the positions of the reachable schools and the centres of the
radius-R circles through each pair of them hold a best place; the centroid of each candidate's schools, where it
keeps them all, is added as a shorter-travel place for the same schools. Candidates holding the same schools are
one candidate. Ties in ``covers`` go to the greater need met (need levels, as the objective counts them), then to
the shorter travel of the new partner.

Two ways to rank: ``sequence`` (the default) picks place 1, then judges place 2 given a recruit at place 1, and so
on, which is what a Hub Lead recruiting several people needs (two places in one cluster do not both count its
schools); ``independent`` judges each place against the round as it is.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order
from scipy.spatial import cKDTree

from matcher.candidates import CandidateGraph, build_graph
from matcher.costs import Costs, score
from matcher.geo import EARTH_RADIUS_KM, chord, km_of_chord, unit_vectors
from matcher.objective import NEED_LEVELS, slot_values
from matcher.partners import PartnerTable
from matcher.progress import Progress
from matcher.solve import role_input
from matcher.solvers import RoleInput, RoleResult, solve_role
from models.domain import Adviser, CornerstoneEmployer, Problem, Role, Site
from models.geocode import nearest_towns
from models.schemas import MAX_ADVISER_CAPACITY, MAX_EMPLOYER_CAPACITY, MAX_GAP_PLACES, MAX_TRAVEL_KM

WHOLE_EARTH_KM = np.pi * EARTH_RADIUS_KM  # a radius that reaches every school: used to ask which are eligible
_RIM = 1.0 - 1e-9  # circles through two schools are drawn a hair inside R, so both stay within reach


MAX_CAPACITY = {"adviser": MAX_ADVISER_CAPACITY, "cornerstone": MAX_EMPLOYER_CAPACITY}  # as for any partner


@dataclass(frozen=True)
class Recruit:
    """The partner to recruit: capacity (schools for an adviser; places for an employer) and travel radius."""

    capacity: float
    radius_km: float


@dataclass(frozen=True)
class Place:
    """A verified place: where, how many extra schools a recruit there covers, and which schools it serves.

    ``schools`` and ``travel_km``: the recruit's own schools in the re-solve (positions into ``problem.schools``);
    ``newly_covered``: schools with a partner after the re-solve that had none before (the recruit may take a
    school whose partner then moves to one that had none, so the two lists can differ).
    """

    lat: float
    lon: float
    covers: int
    need_gain: int
    schools: np.ndarray
    travel_km: np.ndarray
    newly_covered: np.ndarray
    proven: bool = True

    def key(self) -> tuple[int, int, float]:
        """Larger is better: covers, then need met, then shorter travel."""
        return self.covers, self.need_gain, -float(self.travel_km.sum())


@dataclass(frozen=True)
class GapSearch:
    """The outcome of a gap search for one role."""

    role: Role
    recruit: Recruit
    sequence: bool
    covered: int
    uncovered: np.ndarray
    places: tuple[Place, ...]
    candidates: int
    resolves: int


def searchable_roles(problem: Problem, roles: list[Role]) -> list[Role]:
    """The roles asked for that the policy gives schools a slot of (a role switched off has nothing to recruit)."""
    kinds = {s.kind for s in problem.schools} or {"mainstream"}
    return [r for r in roles if problem.policy.max_slots(r, kinds) > 0]


def default_recruit(problem: Problem, role: Role, capacity: float | None, radius_km: float | None) -> Recruit:
    """The hub's most common partner capacity (the smaller on a tie; 1 for a hub with none) and the policy's
    radius, where the caller gives none."""
    if capacity is None:
        caps = (
            [float(a.capacity) for a in problem.advisers]
            if role == "adviser"
            else [float(e.capacity) for e in problem.employers]
        )
        values, counts = np.unique(np.array(caps or [1.0]), return_counts=True)
        capacity = float(values[np.argmax(counts)])
    return Recruit(float(capacity), float(radius_km or problem.policy.default_max_travel_km))


def check_request(role: Role, recruit: Recruit, top: int) -> None:
    """Refuse, by name, a recruit the problem format would refuse as a partner, or a ``top`` out of range."""
    noun = _noun(role)
    if role == "adviser" and (
        recruit.capacity != int(recruit.capacity) or not 1 <= recruit.capacity <= MAX_ADVISER_CAPACITY
    ):
        raise ValueError(
            f"capacity: a recruited adviser takes a whole number of schools, 1 to {MAX_ADVISER_CAPACITY} "
            f"(got {recruit.capacity:g})."
        )
    if not 0 < recruit.capacity <= MAX_CAPACITY[role]:
        raise ValueError(
            f"capacity: a recruited {noun}'s capacity must be above 0 and at most "
            f"{MAX_CAPACITY[role]} (got {recruit.capacity:g})."
        )
    if not 0 < recruit.radius_km <= MAX_TRAVEL_KM:
        raise ValueError(
            f"radius: the travel radius must be above 0 and at most {MAX_TRAVEL_KM:g} km (got {recruit.radius_km:g})."
        )
    if not 1 <= top <= MAX_GAP_PLACES:
        raise ValueError(f"top: between 1 and {MAX_GAP_PLACES} places (got {top}).")


def recruit_partner(
    problem: Problem, role: Role, lat: float, lon: float, recruit: Recruit, number: int = 1
) -> Adviser | CornerstoneEmployer:
    """The recruit as a record of the problem: no sectors, no skills, a company of its own, available."""
    taken = {a.id for a in problem.advisers} | {e.id for e in problem.employers} | {a.company for a in problem.advisers}
    rid = f"recruit-{number}"
    while rid in taken:
        rid += "'"
    if role == "adviser":
        return Adviser(
            id=rid,
            company=rid,
            lat=lat,
            lon=lon,
            name=f"Recruit {number}",
            capacity=int(recruit.capacity),
            max_travel_km=recruit.radius_km,
        )
    return CornerstoneEmployer(
        id=rid,
        name=f"Recruit {number}",
        sites=(Site(lat, lon),),
        capacity=recruit.capacity,
        max_travel_km=recruit.radius_km,
    )


def find_gaps(
    problem: Problem,
    role: Role,
    recruit: Recruit,
    *,
    top: int = 5,
    sequence: bool = True,
    solver: str = "auto",
    progress: Progress | None = None,
) -> GapSearch:
    """The ``top`` places to recruit a partner of ``role``, best first, each verified by a re-solve of the role."""
    report = progress or (lambda fraction, stage: None)
    search = _Search(problem, role, recruit, solver)
    report(0.0, f"solving the {_noun(role)}s as they are")
    base_inp = role_input(problem, role)
    base = solve_role(base_inp, solver, problem.policy.time_limit_s)
    covered0 = _covered(base_inp, base)
    places: list[Place] = []
    if sequence:
        inp, res = base_inp, base
        for k in range(top):
            report(k / top, f"place {k + 1} of {top}")
            best = search.best(inp, res, 1, number=k + 1)
            if not best:
                break
            place, inp, res = best[0]
            places.append(place)
    else:
        report(0.1, f"ranking {top} places")
        places = [p for p, _, _ in search.best(base_inp, base, top, number=1)]
    report(1.0, "done")
    return GapSearch(
        role,
        recruit,
        sequence,
        int(covered0.sum()),
        np.flatnonzero(~covered0 & _open(base_inp)),
        tuple(places),
        search.candidates,
        search.resolves,
    )


class _Search:
    """The candidate places of one role and their verification by re-solving with the recruit added."""

    def __init__(self, problem: Problem, role: Role, recruit: Recruit, solver: str) -> None:
        self.problem, self.role, self.recruit, self.solver = problem, role, recruit, solver
        self.school_xyz = unit_vectors([s.lat for s in problem.schools], [s.lon for s in problem.schools])
        everywhere = self._recruit_graph(problem.schools[0].lat if problem.schools else 0.0, 0.0, WHOLE_EARTH_KM)[0]
        self.eligible = np.zeros(len(problem.schools), dtype=bool)
        self.eligible[everywhere.school] = True
        self.loads = (
            np.array([s.load for s in problem.schools]) if role == "cornerstone" else np.ones(len(problem.schools))
        )
        self.candidates = 0
        self.resolves = 0

    def best(
        self, inp: RoleInput, res: RoleResult, want: int, number: int
    ) -> list[tuple[Place, RoleInput, RoleResult]]:
        """The ``want`` best places given the role as ``inp`` and its optimum ``res``, each verified by a re-solve.

        Candidates are scored exactly, best bound first, until no bound can reach the ``top``-th score: where every
        target school in reach has no partner, by counting (the recruit takes its neediest ``capacity`` of them and
        no other path exists); otherwise by a maximum flow of least need left over the coverage network with the
        recruit added (a flow role), or by a re-solve (a role with loads). The best are then re-solved in order
        until ``want`` of them cover distinct sets of schools.
        """
        top = 2 * want  # spare candidates, for places that turn out to reach the same schools as a better one
        covered = _covered(inp, res)
        targets = self.eligible & _open(inp) & _reachable(inp, res, covered)
        most = min(self._most_schools(inp, targets), int((_open(inp) & ~covered).sum()))
        flow = _CoverageFlow(inp, covered) if inp.unit_loads() and res.status == "optimal" else None
        scored: list[tuple[tuple[int, int, float], int, np.ndarray]] = []  # a min-heap of the best ``top``
        seen: set[int] = set()  # school sets already scored (a circle may hold the same schools as a school's place)
        for stage in ("points", "circles"):
            if len(scored) >= top and scored[0][0][0] >= most:  # the top-th covers all one recruit can: done
                break
            xyz = self._places(targets, circles=stage == "circles")
            c = self._candidates(xyz, targets, covered, inp, most)
            self.candidates += len(c.order)
            for k in c.order:
                if len(scored) >= top:
                    if not _may_beat(c, k, scored[0][0], tie=flow is not None and stage == "points"):
                        break
                    if c.bound[k] == scored[0][0][0] and not c.direct[k]:
                        continue  # a tie on covers is scored only where counting scores it, not a flow each
                if int(c.fingerprint[k]) in seen:
                    continue
                seen.add(int(c.fingerprint[k]))
                if c.direct[k]:
                    exact = (int(c.bound[k]), int(c.need[k]))
                elif flow is not None:
                    exact = flow.gain(c.schools_of(k), most)
                else:
                    exact = self._verify(inp, covered, xyz[k], number)[0].key()[:2]
                if exact[0] <= 0:
                    continue
                item = ((exact[0], exact[1], -float(c.travel[k])), -len(seen), xyz[k])
                (heapq.heappush if len(scored) < top else heapq.heappushpop)(scored, item)
        verified: dict[bytes, tuple[Place, RoleInput, RoleResult]] = {}
        for tried, (_, _, where) in enumerate(sorted(scored, reverse=True)):
            if len(verified) == want or tried == want + 2:  # a re-solve each: a couple spare, no more
                break
            checked = self._verify(inp, covered, where, number)
            if checked[0].covers > 0:  # one place per set of newly covered schools: the same option twice is one
                verified.setdefault(np.sort(checked[0].newly_covered).tobytes(), checked)
        return sorted(verified.values(), key=lambda v: v[0].key(), reverse=True)

    def _most_schools(self, inp: RoleInput, targets: np.ndarray) -> int:
        """The most schools one recruit can take: its capacity (and the company cap) against the smallest loads."""
        cap = self.recruit.capacity
        if self.role == "adviser" and inp.graph.partners.company_cap is not None:
            cap = min(cap, inp.graph.partners.company_cap)
        loads = np.sort(self.loads[targets])
        return int(np.searchsorted(np.cumsum(loads), cap + 1e-9, side="right"))

    def _places(self, targets: np.ndarray, circles: bool) -> np.ndarray:
        """Unit vectors of candidate places: the target schools themselves, or the radius-R circles through each
        pair of them (both centres of each pair nearer than 2R)."""
        xyz = self.school_xyz[targets]
        if not circles:
            return xyz
        rho = _RIM * self.recruit.radius_km / EARTH_RADIUS_KM
        pairs = cKDTree(xyz).query_pairs(float(chord(2 * _RIM * self.recruit.radius_km)), output_type="ndarray")
        u, v = xyz[pairs[:, 0]], xyz[pairs[:, 1]]
        mid = u + v
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        side = np.cross(u, v)
        norm = np.linalg.norm(side, axis=1)
        keep = norm > 1e-12
        mid, side, u = mid[keep], side[keep] / norm[keep, None], u[keep]
        cos_t = np.clip(np.cos(rho) / np.einsum("ij,ij->i", mid, u), -1.0, 1.0)
        sin_t = np.sqrt(1.0 - cos_t**2)
        centres = np.concatenate(
            [cos_t[:, None] * mid + sin_t[:, None] * side, cos_t[:, None] * mid - sin_t[:, None] * side]
        )
        return centres / np.linalg.norm(centres, axis=1, keepdims=True)

    def _candidates(
        self, xyz: np.ndarray, targets: np.ndarray, covered: np.ndarray, inp: RoleInput, most: int
    ) -> _Candidates:
        """Candidates worth scoring, best bound first: one per distinct set of target schools in reach, moved to
        the centroid of the set where that keeps them all (the same schools, less travel)."""
        where = np.flatnonzero(targets)
        reach = float(chord(self.recruit.radius_km))
        cand, school, dist = _within(xyz, self.school_xyz[where], reach)
        school = where[school]
        n = len(xyz)
        need_bound = self._need_bound(xyz, inp)
        centroid = np.zeros((n, 3))
        np.add.at(centroid, cand, self.school_xyz[school])
        centroid /= np.maximum(np.linalg.norm(centroid, axis=1, keepdims=True), 1e-300)
        far = np.zeros(n)
        np.maximum.at(far, cand, np.linalg.norm(centroid[cand] - self.school_xyz[school], axis=1))
        central = far <= reach
        xyz[central] = centroid[central]
        moved = central[cand]
        dist[moved] = np.linalg.norm(xyz[cand[moved]] - self.school_xyz[school[moved]], axis=1)
        tags = np.random.default_rng(0).integers(0, 2**63, len(targets), dtype=np.uint64)
        fingerprint = np.zeros(n, dtype=np.uint64)
        np.add.at(fingerprint, cand, tags[school])
        count = np.bincount(cand, minlength=n)
        bound = np.minimum(count, most)
        level = inp.values.need_level
        by_need = np.lexsort((-level[school], cand))
        start = np.searchsorted(cand[by_need], np.arange(n + 1))
        rank = np.arange(len(by_need)) - start[cand[by_need]]
        best_part = rank < bound[cand[by_need]]
        need = np.bincount(cand[by_need], weights=level[school[by_need]] * best_part, minlength=n)
        travel = np.bincount(cand[by_need], weights=km_of_chord(dist[by_need]) * best_part, minlength=n)
        direct = np.bincount(cand, weights=covered[school], minlength=n) == 0
        by_set = np.lexsort((travel, fingerprint))
        first = np.ones(n, dtype=bool)
        first[1:] = fingerprint[by_set][1:] != fingerprint[by_set][:-1]
        distinct = by_set[first & (bound[by_set] > 0)]
        order = distinct[np.lexsort((travel[distinct], -need_bound[distinct], -bound[distinct]))]
        return _Candidates(
            order,
            bound,
            need_bound,
            np.rint(need).astype(np.int64),
            travel,
            direct,
            fingerprint,
            cand[by_need],
            school[by_need],
            start,
        )

    def _need_bound(self, xyz: np.ndarray, inp: RoleInput) -> np.ndarray:
        """A bound on the need a recruit at each place adds: the need of the ``capacity`` neediest open schools
        within its reach, covered or not. (Covered sets form a matroid and the optimum is its heaviest basis:
        without the recruit's own schools, the covering after is one that existed before, no heavier.)"""
        where = np.flatnonzero(self.eligible & _open(inp))
        cand, school, _ = _within(xyz, self.school_xyz[where], float(chord(self.recruit.radius_km)))
        level = inp.values.need_level[where[school]]
        order = np.lexsort((-level, cand))
        start = np.searchsorted(cand[order], np.arange(len(xyz)))
        rank = np.arange(len(order)) - start[cand[order]]
        take = rank < int(np.floor(self.recruit.capacity + 1e-9))
        return np.bincount(cand[order], weights=level[order] * take, minlength=len(xyz))

    def _verify(
        self, inp: RoleInput, covered: np.ndarray, xyz: np.ndarray, number: int
    ) -> tuple[Place, RoleInput, RoleResult]:
        """Re-solve the role with a recruit at ``xyz`` added to ``inp``'s graph, and measure what it changed."""
        lat, lon = float(np.degrees(np.arcsin(np.clip(xyz[2], -1, 1)))), float(np.degrees(np.arctan2(xyz[1], xyz[0])))
        graph, costs = self._recruit_graph(lat, lon, self.recruit.radius_km, number)
        grown = _grow(inp, graph, costs)
        res = solve_role(grown, self.solver, self.problem.policy.time_limit_s)
        self.resolves += 1
        after = _covered(grown, res)
        mine = res.chosen & (grown.graph.partner == grown.graph.partners.size - 1)
        level = grown.values.need_level
        place = Place(
            lat=lat,
            lon=lon,
            covers=int(after.sum() - covered.sum()),
            need_gain=int(level[after].sum() - level[covered].sum()),
            schools=grown.graph.school[mine],
            travel_km=grown.graph.distance_km[mine],
            newly_covered=np.flatnonzero(after & ~covered),
            proven=res.status == "optimal",
        )
        return place, grown, res

    def _recruit_graph(self, lat: float, lon: float, radius_km: float, number: int = 1) -> tuple[CandidateGraph, Costs]:
        """The recruit's own candidate pairs and their costs, built by the core's rules from a problem holding only
        the recruit (so every rule that applies to a partner applies to it); a school whose pairs were imported
        with a cost keeps only those, as in ``build_graph``."""
        recruit = dataclasses.replace(self.recruit, radius_km=radius_km)
        partner = recruit_partner(self.problem, self.role, lat, lon, recruit, number)
        if isinstance(partner, Adviser):
            alone = dataclasses.replace(self.problem, advisers=(partner,), employers=(), pairs=())
        else:
            alone = dataclasses.replace(self.problem, advisers=(), employers=(partner,), pairs=())
        graph = build_graph(alone, self.role)
        priced = _priced_schools(self.problem, self.role)
        if priced.size:
            graph = _select(graph, ~np.isin(graph.school, priced))
        return graph, score(alone, graph)


@dataclass(frozen=True)
class _Candidates:
    """Candidate places (by position in the place array): the order to score them in, the bounds on ``covers``
    and on the need met, the need and travel of the neediest targets the bound counts, whether every target in
    reach has no partner, the fingerprint of the set of targets in reach, and those sets as (candidate, school)
    pairs."""

    order: np.ndarray
    bound: np.ndarray
    need_bound: np.ndarray
    need: np.ndarray
    travel: np.ndarray
    direct: np.ndarray
    fingerprint: np.ndarray
    cand: np.ndarray
    school: np.ndarray
    start: np.ndarray

    def schools_of(self, k: int) -> np.ndarray:
        return self.school[self.start[k] : self.start[k + 1]]


def _may_beat(c: _Candidates, k: int, kth: tuple[int, int, float], tie: bool) -> bool:
    """Whether candidate ``k`` can still beat the ``top``-th score: on covers, or (``tie``: a flow role's school
    positions) on need at equal covers."""
    return bool(c.bound[k] > kth[0] or (tie and c.bound[k] == kth[0] and c.need_bound[k] > kth[1]))


class _CoverageFlow:
    """The coverage network of a flow role (source -> open school -> partner -> company -> sink, a unit per
    school, the school's need as a negative cost), where a recruit's exact (covers, need) gain is one maximum flow
    of least cost: schools covered first, then need, as the objective ranks them."""

    def __init__(self, inp: RoleInput, covered: np.ndarray) -> None:
        g, v = inp.graph, inp.values
        n_s, n_p = g.n_schools, g.partners.size
        company_left = inp.company_left()
        n_c = 0 if company_left is None else len(company_left)
        self.sink, self.source, self.recruit = n_s + n_p + n_c, n_s + n_p + n_c + 1, n_s + n_p + n_c + 2
        free = np.flatnonzero(~g.locked & v.first_open[g.school])
        opened = np.flatnonzero(v.first_open)
        after_partner = np.full(n_p, self.sink) if company_left is None else n_s + n_p + g.partners.company
        parts = [
            (np.full(len(opened), self.source), opened, np.ones(len(opened)), -v.need_level[opened]),
            (g.school[free], n_s + g.partner[free], np.ones(len(free)), np.zeros(len(free))),
            (n_s + np.arange(n_p), after_partner, np.floor(inp.capacity_left() + 1e-9), np.zeros(n_p)),
        ]
        if company_left is not None:
            parts.append((n_s + n_p + np.arange(n_c), np.full(n_c, self.sink), company_left, np.zeros(n_c)))
        self.arcs = [np.concatenate([p[k] for p in parts]).astype(np.int64) for k in range(4)]
        self.base = self._solve(*self.arcs)

    def gain(self, schools: np.ndarray, capacity: int) -> tuple[int, int]:
        """(extra schools covered, extra need met) with a recruit of ``capacity`` reaching ``schools``."""
        extra = (
            np.append(schools, self.recruit),
            np.append(np.full(len(schools), self.recruit), self.sink),
            np.append(np.ones(len(schools)), capacity),
            np.zeros(len(schools) + 1),
        )
        flow, need = self._solve(
            *(np.concatenate([a, e]).astype(np.int64) for a, e in zip(self.arcs, extra, strict=True))
        )
        return flow - self.base[0], need - self.base[1]

    def _solve(self, tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray) -> tuple[int, int]:
        net = min_cost_flow.SimpleMinCostFlow()
        net.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32), caps, costs)
        net.set_node_supply(self.source, int(caps[tails == self.source].sum()))
        net.set_node_supply(self.sink, -int(caps[tails == self.source].sum()))
        if net.solve_max_flow_with_min_cost() != net.OPTIMAL:
            raise RuntimeError("the coverage flow of a gap search did not solve")
        return int(net.maximum_flow()), -int(net.optimal_cost())


def _noun(role: Role) -> str:
    return "adviser" if role == "adviser" else "Cornerstone Employer"


def _open(inp: RoleInput) -> np.ndarray:
    """Schools whose first slot of the role is open (no locked partner): the ones a recruit can newly cover."""
    return inp.values.first_open


def _covered(inp: RoleInput, res: RoleResult) -> np.ndarray:
    """Schools with at least one partner of the role in the result (locked ones included)."""
    return np.bincount(inp.graph.school[res.chosen], minlength=inp.graph.n_schools) > 0


def _reachable(inp: RoleInput, res: RoleResult, covered: np.ndarray) -> np.ndarray:
    """Schools an augmenting path from a school left without a partner can reach in the residual network of the
    coverage flow (source -> open school -> partner -> company -> sink, one unit per school), taken at the
    optimum ``res`` with one partner kept per school. A recruit can only gain a school through one of these.
    Without a flow (loads, or an optimum not proven) every open school counts."""
    g, n_s, n_p = inp.graph, inp.graph.n_schools, inp.graph.partners.size
    if not inp.unit_loads() or res.status != "optimal":
        return np.ones(n_s, dtype=bool)
    free = np.flatnonzero(~g.locked & inp.values.first_open[g.school])
    chosen = free[res.chosen[free]]
    _, first = np.unique(g.school[chosen], return_index=True)
    matched = np.zeros(g.size, dtype=bool)
    matched[chosen[first]] = True
    tails = [np.where(matched[free], n_s + g.partner[free], g.school[free])]
    heads = [np.where(matched[free], g.school[free], n_s + g.partner[free])]
    company_left = inp.company_left()
    if company_left is not None:
        flow = np.bincount(g.partner[matched], minlength=n_p)
        room = flow < np.floor(inp.capacity_left() + 1e-9)
        node = n_s + n_p + g.partners.company
        tails += [n_s + np.flatnonzero(room), node[flow > 0]]
        heads += [node[room], n_s + np.flatnonzero(flow > 0)]
    source = n_s + n_p + (0 if company_left is None else len(company_left))
    start = np.flatnonzero(inp.values.first_open & ~covered)
    tails.append(np.full(len(start), source))
    heads.append(start)
    t, h = np.concatenate(tails), np.concatenate(heads)
    net = coo_matrix((np.ones(len(t)), (t, h)), shape=(source + 1, source + 1)).tocsr()
    seen = breadth_first_order(net, source, directed=True, return_predecessors=False)
    reach = np.zeros(source + 1, dtype=bool)
    reach[seen] = True
    return reach[:n_s]


def _within(
    xyz: np.ndarray, schools: np.ndarray, reach: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, school, chord) for every school within ``reach`` (a chord) of each candidate, sorted by
    candidate: the same test ``build_graph`` applies, so a bound never counts a school the recruit cannot reach."""
    if not len(xyz) or not len(schools):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    pairs = cKDTree(xyz).sparse_distance_matrix(cKDTree(schools), reach, output_type="ndarray")
    order = np.argsort(pairs["i"], kind="stable")
    return pairs["i"][order].astype(np.int64), pairs["j"][order].astype(np.int64), pairs["v"][order]


def _priced_schools(problem: Problem, role: Role) -> np.ndarray:
    """Schools with a pair of the role imported with a cost: their candidates are those pairs alone."""
    ids = {a.id for a in problem.advisers} if role == "adviser" else {e.id for e in problem.employers}
    at = {s.id: i for i, s in enumerate(problem.schools)}
    return np.array(
        sorted({at[p.school] for p in problem.pairs if p.cost is not None and not p.forbidden and p.partner in ids}),
        dtype=np.int64,
    )


_PAIR_FIELDS = ("school", "partner", "distance_km", "load", "locked", "given_cost")


def _select(graph: CandidateGraph, keep: np.ndarray) -> CandidateGraph:
    fields: dict[str, Any] = {f: getattr(graph, f)[keep] for f in _PAIR_FIELDS}
    return dataclasses.replace(graph, **fields)


def _grow(inp: RoleInput, extra: CandidateGraph, extra_costs: Costs) -> RoleInput:
    """``inp`` with one more partner (the only one of ``extra``) and its pairs, in the core's (school, partner)
    order: the role's graph is reused, not rebuilt from the problem."""
    g = inp.graph
    n_p = g.partners.size
    joined: dict[str, Any] = {f: np.concatenate([getattr(g, f), getattr(extra, f)]) for f in _PAIR_FIELDS}
    joined["partner"][g.size :] += n_p
    order = np.argsort(joined["school"], kind="stable")  # the recruit's index is the largest: ties stay ordered
    graph = dataclasses.replace(
        g,
        partners=_join_partners(g.partners, extra.partners),
        in_reach=g.in_reach + extra.in_reach,
        removed={k: v + extra.removed.get(k, 0) for k, v in g.removed.items()},
        **{f: v[order] for f, v in joined.items()},
    )
    costs = inp.costs.joined(extra_costs, order)
    return RoleInput(graph, costs, slot_values(graph, costs), distinct_sectors=inp.distinct_sectors, engage=inp.engage)


def _join_partners(a: PartnerTable, b: PartnerTable) -> PartnerTable:
    """Partner table ``a`` followed by ``b`` (one recruit), with ``b``'s sites and company renumbered."""
    company = b.company + len(a.company_ids) if len(b.company_ids) else b.company
    return dataclasses.replace(
        a,
        ids=a.ids + b.ids,
        site_lat=np.concatenate([a.site_lat, b.site_lat]),
        site_lon=np.concatenate([a.site_lon, b.site_lon]),
        site_owner=np.concatenate([a.site_owner, b.site_owner + a.size]),
        radius_km=np.concatenate([a.radius_km, b.radius_km]),
        capacity=np.concatenate([a.capacity, b.capacity]),
        company=np.concatenate([a.company, company]),
        company_ids=a.company_ids + b.company_ids,
        unavailable=np.concatenate([a.unavailable, b.unavailable]),
        sectors=a.sectors + b.sectors,
        skills=a.skills + b.skills,
        conflicts=a.conflicts + b.conflicts,
    )


def as_document(problem: Problem, search: GapSearch, seconds: float | None = None) -> dict[str, Any]:
    """The gap search as plain data (the "Recruitment gaps" format of docs/problem-format.md): ids, names and the
    nearest town at the edge. A place is a proposal for recruitment, not anyone's home; nothing here tells where an
    existing partner is."""
    schools = problem.schools
    towns = nearest_towns([p.lat for p in search.places], [p.lon for p in search.places])
    total = search.covered
    places = []
    for rank, (place, town) in enumerate(zip(search.places, towns, strict=True), start=1):
        total = total + place.covers if search.sequence else search.covered + place.covers
        order = np.argsort(place.travel_km, kind="stable")
        places.append(
            {
                "rank": rank,
                "lat": round(place.lat, 4),
                "lon": round(place.lon, 4),
                "town": town,
                "covers": place.covers,
                "proven": place.proven,
                "need_met": round(place.need_gain / NEED_LEVELS, 1),
                "schools_covered_after": total,
                "schools": [
                    {"id": schools[i].id, "name": schools[i].name, "distance_km": round(float(km), 1)}
                    for i, km in zip(place.schools[order], place.travel_km[order], strict=True)
                ],
                "newly_covered": [{"id": schools[i].id, "name": schools[i].name} for i in place.newly_covered],
            }
        )
    return {
        "role": search.role,
        "ranking": "sequence" if search.sequence else "independent",
        "recruit": {"capacity": search.recruit.capacity, "max_travel_km": search.recruit.radius_km},
        "schools_covered": search.covered,
        "schools_without": [{"id": schools[i].id, "name": schools[i].name} for i in search.uncovered],
        "places": places,
        "search": {
            "candidates": search.candidates,
            "resolves": search.resolves,
            **({} if seconds is None else {"seconds": round(seconds, 3)}),
        },
    }
