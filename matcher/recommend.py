"""Where a newcomer fits mid-term: the best placements of a new adviser, employer or school, without a re-solve.

The round's solution is optimal for the round with itself as the current pairings (an incremental re-solve would
keep it), so the residual network of its flow (``matcher.solvers.flow.lexicographic_network``) has no negative
cycle. The newcomer adds one node and its arcs; every cycle that improves the round passes through that node, and
the new optimum is the old flow plus the cheapest such cycles, one unit of the newcomer's capacity (or, for a
school, one open slot) at a time: successive shortest paths in the residual network (``matcher.residual``). Each
cycle is an augmenting path: "the newcomer takes Burnley High; Burnley High's adviser moves to Padiham Green,
which had none".

The recommendations, best first:
1. the optimum itself: exactly what ``solve(problem + newcomer, previous=solution)`` gives the role (coverage
   levels and cost units), which may be to place the newcomer nowhere when no placement improves the round;
2. then, for each other first school of the newcomer (for a school: each other first partner), the best round
   with the newcomer there: the first placement forced, then the best use of the newcomer's remaining capacity.
   They are taken in order of the forced first placement's own value, and the ``top`` best are ranked by the
   whole recommendation's value, the objective's integer: schools covered first, then slots filled, need, cost.
   With a capacity of one (the usual adviser) this is the exact ranking of all the newcomer's schools.

A role the flow cannot represent (loads against capacity, distinct sectors), or a solution that is not the
round's optimum as it stands now (its residual network has a negative cycle), is answered by a re-solve of the
role with the newcomer, labelled ``method: "re-solve"`` with the reason, and gives the optimum alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from ortools.graph.python import min_cost_flow

from matcher.candidates import positions_of
from matcher.costs import SCALE
from matcher.explain import ROLE_WORD
from matcher.objective import cost_unit
from matcher.residual import UNREACHED, NegativeCycle, Residual
from matcher.solve import role_input, with_previous
from matcher.solvers import RoleInput, SolverUnsuitable, solve_role
from matcher.solvers.base import filled_per_school
from matcher.solvers.flow import Network, check_flow, lexicographic_network
from models.domain import Adviser, CornerstoneEmployer, Problem, Role, School, Solution

Newcomer = Adviser | CornerstoneEmployer | School
Method = Literal["augmenting paths", "re-solve"]
# candidates added and dropped; the forced first pairing; the change of the flow network's cost (None: re-solved)
Choice = tuple[np.ndarray, np.ndarray, "int | None", "int | None"]


class _NotAugmentable(Exception):
    """The newcomer's arcs in the flow network are not one node's arcs to one end (a network this module does not
    know how to augment): the role is re-solved instead, saying so."""


@dataclass(frozen=True)
class Change:
    """One pairing that a recommendation adds or drops (a candidate of the role, with its cost)."""

    school: str
    partner: str
    distance_km: float
    cost: float
    components: dict[str, float]


@dataclass(frozen=True)
class Step:
    """One partner's move in a chain: it leaves ``left`` (or was free) and takes ``took`` (or is freed)."""

    partner: str
    left: tuple[str, ...]
    took: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Placement:
    """One recommendation: the pairings it adds and drops and what it does to the objective's levels."""

    rank: int
    anchor: str | None
    newcomer_pairs: tuple[str, ...]
    added: tuple[Change, ...]
    dropped: tuple[Change, ...]
    steps: tuple[Step, ...]
    chain: str
    schools_covered: int
    slots_filled: int
    need: int
    coverage: int
    cost_units: int
    value: int

    @property
    def cost_change(self) -> float:
        return self.cost_units / SCALE


@dataclass(frozen=True)
class RoleRecommendations:
    """A role's recommendations, how they were found, and the round's objective before and after the first."""

    role: Role
    method: Method
    reason: str | None
    placements: tuple[Placement, ...]
    base_coverage: int
    base_cost_units: int


def with_newcomer(problem: Problem, newcomer: Newcomer) -> Problem:
    """The problem with the newcomer's record added at the end of its collection."""
    if isinstance(newcomer, School):
        return dataclasses.replace(problem, schools=(*problem.schools, newcomer))
    if isinstance(newcomer, Adviser):
        return dataclasses.replace(problem, advisers=(*problem.advisers, newcomer))
    return dataclasses.replace(problem, employers=(*problem.employers, newcomer))


def newcomer_roles(problem: Problem, newcomer: Newcomer) -> tuple[Role, ...]:
    """The roles a newcomer takes part in: a partner's own; a school's every role with slots."""
    if isinstance(newcomer, Adviser):
        return ("adviser",)
    if isinstance(newcomer, CornerstoneEmployer):
        return ("cornerstone",)
    slots: dict[Role, int] = {
        "adviser": problem.policy.advisers_per_school,
        "cornerstone": problem.policy.cornerstones_per_school,
    }
    return tuple(role for role, n in slots.items() if n > 0)


def recommend(
    problem: Problem, solution: Solution, newcomer: Newcomer, top: int = 3, roles: tuple[Role, ...] | None = None
) -> list[RoleRecommendations]:
    """The ``top`` best placements of the newcomer in each of its roles, the first as good as a full re-solve.

    Parameters
    ----------
    problem: the round as it stands (validated), without the newcomer.
    solution: the round's current pairings (a solve of ``problem``, or the published ones).
    newcomer: a validated Adviser, CornerstoneEmployer or School whose id the problem does not use.
    top: how many recommendations per role (at least 1).
    roles: only these of the newcomer's roles (default: every one; a school takes part in both).
    """
    if top < 1:
        raise ValueError("top must be at least 1.")
    joined = with_previous(with_newcomer(problem, newcomer), solution)
    school = isinstance(newcomer, School)
    wanted = [r for r in newcomer_roles(problem, newcomer) if roles is None or r in roles]
    return [_recommend_role(joined, solution, role, school, top) for role in wanted]


def _recommend_role(problem: Problem, solution: Solution, role: Role, school: bool, top: int) -> RoleRecommendations:
    inp = role_input(problem, role)
    base, missing = _base_choice(inp, problem, solution, role)
    base_cov = inp.values.coverage(filled_per_school(inp, base))
    base_cost = int(inp.costs.units[base].sum())
    reason = missing
    if reason is None:
        try:
            check_flow(inp)
        except SolverUnsuitable as err:
            reason = f"the round's rules are not a flow ({err})"
    if reason is None:
        try:
            choices = _augmented(inp, base, school, top)
            return _answer(problem, inp, base, choices, "augmenting paths", None, school, base_cov, base_cost)
        except NegativeCycle:
            reason = "the current pairings are not the round's optimum as it stands (a cheaper matching exists)"
        except _NotAugmentable as err:
            reason = str(err)
    chosen = solve_role(inp, "auto", problem.policy.time_limit_s).chosen
    resolved = (np.flatnonzero(chosen & ~base), np.flatnonzero(base & ~chosen), None, None)
    return _answer(problem, inp, base, [resolved], "re-solve", reason, school, base_cov, base_cost)


def _base_choice(inp: RoleInput, problem: Problem, solution: Solution, role: Role) -> tuple[np.ndarray, str | None]:
    """The solution's pairings of the role as candidate positions (locked ones always in), or the first pairing
    that is no longer a candidate (out of reach, removed by a rule, a partner gone) as the reason to re-solve."""
    g = inp.graph
    school_at = {s.id: i for i, s in enumerate(problem.schools)}
    partner_at = {p: j for j, p in enumerate(g.partners.ids)}
    pairs = [(a.school, a.partner) for a in solution.assignments if a.role == role]
    gone = [(s, p) for s, p in pairs if s not in school_at or p not in partner_at]
    keys = np.array([school_at[s] * g.partners.size + partner_at[p] for s, p in pairs if (s, p) not in gone])
    base = g.locked.copy()
    at = positions_of(g.school * g.partners.size + g.partner, keys)
    base[at] = True
    if gone or len(at) < len(keys):
        found = {(problem.schools[g.school[c]].id, g.partners.ids[g.partner[c]]) for c in at}
        s, p = next(x for x in pairs if x in gone or x not in found)
        return base, f"the current pairing of {s!r} with {p!r} is no longer a candidate of the round"
    return base, None


def _augmented(inp: RoleInput, base: np.ndarray, school: bool, top: int) -> list[Choice]:
    """The candidates each recommendation adds and drops, by successive cheapest cycles through the newcomer, and
    the candidate of its forced first pairing (None for the optimum, which forces none)."""
    net = lexicographic_network(inp)
    n_pair = len(net.free)
    flow = _flow_of(inp, net, base[net.free])
    if flow is None:
        raise NegativeCycle("the current pairings do not fit the round's capacities")
    res = Residual.of(net.n_nodes, net.tails, net.heads, net.caps, net.costs, flow)
    node = inp.graph.n_schools - 1 if school else inp.graph.n_schools + inp.graph.partners.size - 1
    own = np.flatnonzero(net.tails[n_pair:] == node) + n_pair  # the newcomer's own non-pair arcs
    own_arcs = np.concatenate([2 * own, 2 * own + 1])
    ends = np.unique(net.heads[own])
    if len(ends) != 1:
        raise _NotAugmentable("the newcomer's arcs in the flow network do not share one end")
    start, end = (node, int(ends[0])) if school else (int(ends[0]), node)
    closing = 2 * own + 1 if school else 2 * own  # residual arcs from ``end`` back to ``start``
    capacity = int(net.caps[own].sum()) if not school else int(inp.values.open_slots[node])
    firsts = np.flatnonzero((net.tails[:n_pair] if school else net.heads[:n_pair]) == node)  # its pair arcs

    def chosen_of(r: Residual, anchor: int | None = None) -> Choice:
        now = r.flow(len(net.tails))
        value = int(net.costs @ (now - flow))  # every level the network prices, whatever they are
        now = now[:n_pair]
        changed = np.flatnonzero(now != flow[:n_pair])
        return net.free[changed[now[changed] > 0]], net.free[changed[now[changed] == 0]], anchor, value

    # One shortest-path tree of the base residual gives every first placement's cycle: from the far end of the
    # newcomer's own arcs (an adviser's) to each of its schools, or (a school's) from each partner to the sink.
    dist, pred = res.shortest(end if school else start, own_arcs, towards=school)
    open_close = closing[res.room[closing] > 0]
    if not len(open_close) or not len(firsts):
        return [chosen_of(res)]
    close = int(open_close[np.argmin(res.cost(open_close))])
    other_end = net.heads[firsts] if school else net.tails[firsts]
    reached = dist[other_end] < UNREACHED
    single = np.where(reached, dist[other_end] + res.cost(2 * firsts) + res.cost(np.array([close]))[0], UNREACHED)
    order = [int(k) for k in np.argsort(single, kind="stable") if reached[k]]

    def cycle(k: int) -> np.ndarray:
        first = np.array([2 * firsts[k]])
        if school:
            return np.concatenate([first, res.path(pred, int(other_end[k]), end, towards=True), [close]])
        return np.concatenate([[close], res.path(pred, start, int(other_end[k])), first])

    best = res.copy()
    if order and single[order[0]] < 0:
        best.push(cycle(order[0]))
        _cycles(best, start, end, closing, own_arcs, capacity - 1)
    found = [chosen_of(best)]
    taken = best.flow(n_pair)[firsts] > 0
    for k in order:
        if len(found) == top:
            break
        if taken[k]:
            continue
        forced = res.copy()
        forced.push(cycle(k))
        _cycles(
            forced, start, end, closing, np.concatenate([own_arcs, [2 * firsts[k], 2 * firsts[k] + 1]]), capacity - 1
        )
        found.append(chosen_of(forced, int(net.free[firsts[k]])))
    return found


def _cycles(res: Residual, start: int, end: int, closing: np.ndarray, blocked: np.ndarray, limit: int) -> None:
    """Augment the cheapest negative cycles made of a path start -> end and a closing arc end -> start, at most
    ``limit`` of them (each carries one unit)."""
    for _ in range(max(limit, 0)):
        open_arcs = closing[res.room[closing] > 0]
        if not len(open_arcs):
            return
        close = open_arcs[np.argmin(res.cost(open_arcs))]
        dist, pred = res.shortest(start, blocked)
        if dist[end] >= UNREACHED or dist[end] + res.cost(np.array([close]))[0] >= 0:
            return
        res.push(np.concatenate([res.path(pred, start, end), [close]]))


def _flow_of(inp: RoleInput, net: Network, pairs: np.ndarray) -> np.ndarray | None:
    """The network flow of the chosen pairs: their pair arcs carry one unit, and the partner, company and bypass
    arcs carry the rest at least cost (so parallel arcs of one node fill in the objective's order); None when no
    flow carries those pairs (a partner over capacity)."""
    n_pair = len(net.free)
    pair_flow = pairs.astype(np.int64)
    supplies = np.zeros(net.n_nodes, dtype=np.int64)
    supplies[: inp.graph.n_schools] = inp.values.open_slots
    supplies[-1] = -int(inp.values.open_slots.sum())
    used = np.flatnonzero(pair_flow)
    supplies -= np.bincount(net.tails[used], minlength=net.n_nodes)
    supplies += np.bincount(net.heads[used], minlength=net.n_nodes)
    rest = min_cost_flow.SimpleMinCostFlow()
    rest.add_arcs_with_capacity_and_unit_cost(
        net.tails[n_pair:], net.heads[n_pair:], net.caps[n_pair:], net.costs[n_pair:]
    )
    rest.set_nodes_supplies(np.arange(net.n_nodes, dtype=np.int32), supplies)
    if rest.solve() != rest.OPTIMAL:
        return None
    return np.concatenate([pair_flow, rest.flows(np.arange(len(net.tails) - n_pair, dtype=np.int32))])


def _answer(
    problem: Problem,
    inp: RoleInput,
    base: np.ndarray,
    choices: list[Choice],
    method: Method,
    reason: str | None,
    school: bool,
    base_cov: int,
    base_cost: int,
) -> RoleRecommendations:
    """Decode the choices into ranked placements (the first, the optimum, stays first)."""
    unit = cost_unit(inp.costs, inp.values)
    before = _Before(filled_per_school(inp, base), _held(inp, base), base_cov, unit)
    placements = [_placement(problem, inp, before, choice, school) for choice in choices]
    rest = sorted(placements[1:], key=lambda p: p.value)
    ranked = tuple(dataclasses.replace(p, rank=i + 1) for i, p in enumerate([placements[0], *rest]))
    return RoleRecommendations(inp.graph.role, method, reason, ranked, base_cov, base_cost)


@dataclass(frozen=True)
class _Before:
    """The round before the newcomer: open slots filled and partners held per school, coverage, the cost unit."""

    filled: np.ndarray
    held: np.ndarray
    coverage: int
    unit: int


def _placement(problem: Problem, inp: RoleInput, before: _Before, choice: Choice, school: bool) -> Placement:
    """The placement a choice makes of the round: its changes, its chain and its objective's change."""
    g, units = inp.graph, inp.costs.units
    added, dropped, anchor, network_value = choice
    change = np.bincount(g.school[added], minlength=g.n_schools) - np.bincount(g.school[dropped], minlength=g.n_schools)
    filled, holds = before.filled + change, before.held + change
    coverage = inp.values.coverage(filled) - before.coverage
    cost = int(units[added].sum() - units[dropped].sum())
    node = g.n_schools - 1 if school else g.partners.size - 1
    mine = added[(g.school[added] if school else g.partner[added]) == node]

    def pair_of(c: int) -> str:
        return g.partners.ids[g.partner[c]] if school else problem.schools[g.school[c]].id

    steps = _chain(problem, inp, added, dropped, before.held, holds, school)
    return Placement(
        rank=0,
        anchor=None if anchor is None else pair_of(anchor),
        newcomer_pairs=tuple(pair_of(c) for c in mine),
        added=_changes(problem, inp, added),
        dropped=_changes(problem, inp, dropped),
        steps=steps,
        chain="; ".join(s.text for s in steps) if steps else "no placement improves the round",
        schools_covered=int(np.count_nonzero(holds) - np.count_nonzero(before.held)),
        slots_filled=int(change.sum()),
        need=int((change * inp.values.need_level).sum()),
        coverage=coverage,
        cost_units=cost,
        value=-coverage * before.unit + cost if network_value is None else network_value,
    )


def _held(inp: RoleInput, chosen: np.ndarray) -> np.ndarray:
    """How many partners of the role each school holds with the chosen candidates (locked ones included)."""
    return np.bincount(inp.graph.school[chosen], minlength=inp.graph.n_schools)


def _changes(problem: Problem, inp: RoleInput, rows: np.ndarray) -> tuple[Change, ...]:
    g = inp.graph
    return tuple(
        Change(problem.schools[s].id, g.partners.ids[p], round(km, 3), u / SCALE, comps)
        for s, p, km, u, comps in zip(
            g.school[rows].tolist(),
            g.partner[rows].tolist(),
            g.distance_km[rows].tolist(),
            inp.costs.units[rows].tolist(),
            inp.costs.of(rows),
            strict=True,
        )
    )


@dataclass(frozen=True)
class _Words:
    """What a chain's sentences need: names, and who each school held before and holds after."""

    problem: Problem
    inp: RoleInput
    names: dict[str, str]
    before: np.ndarray
    after: np.ndarray

    def partner(self, p: int) -> str:
        pid = self.inp.graph.partners.ids[p]
        return self.names.get(pid) or pid

    def taken(self, s: int) -> str:
        return self.problem.schools[s].name + (", which had none" if self.before[s] == 0 else "")

    def emptied(self, left: list[int]) -> str:
        """ ", leaving Burnley High with none" for the schools a move leaves without a partner of the role."""
        empty = [self.problem.schools[s].name for s in left if self.after[s] == 0]
        return f", leaving {' and '.join(empty)} with none" if empty else ""


def _chain(
    problem: Problem,
    inp: RoleInput,
    added: np.ndarray,
    dropped: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    school: bool,
) -> tuple[Step, ...]:
    """The partners' moves in the order the chain reaches them from the newcomer (breadth first over the changed
    pairings, and from a partner to the others of its company when a company cap links them), each in words."""
    g = inp.graph
    edges = [(int(g.school[c]), int(g.partner[c]), True) for c in added]
    edges += [(int(g.school[c]), int(g.partner[c]), False) for c in dropped]
    moved = sorted({p for _, p, _ in edges})
    capped = g.partners.company_cap is not None
    order: list[int] = []
    seen: set[tuple[str, int]] = set()
    queue: list[tuple[str, int]] = [("s", g.n_schools - 1)] if school else [("p", g.partners.size - 1)]
    while queue or len(order) < len(moved):
        if not queue:  # a change the chain does not reach from the newcomer
            queue.append(("p", next(p for p in moved if ("p", p) not in seen)))
        node = queue.pop(0)
        if node in seen:
            continue
        seen.add(node)
        kind, n = node
        if kind == "p":
            order += [n] if n in moved else []
            queue += [("s", s) for s, p, _ in edges if p == n]
            if capped:
                queue += [("p", p) for p in moved if g.partners.company[p] == g.partners.company[n]]
        else:
            queue += [("p", p) for s, p, _ in edges if s == n]
    words = _Words(problem, inp, _names(problem, g.role), before, after)
    newcomer = -1 if school else g.partners.size - 1
    freed = {int(g.partners.company[p]): p for p in order if not any(q == p and a for _, q, a in edges)}
    return tuple(
        _step(
            words,
            p,
            [s for s, q, a in edges if q == p and not a],
            [s for s, q, a in edges if q == p and a],
            p == newcomer,
            freed.get(int(g.partners.company[p])) if capped else None,
        )
        for p in order
    )


def _step(words: _Words, p: int, left: list[int], took: list[int], is_newcomer: bool, freed_by: int | None) -> Step:
    """One partner's move in words: "Burnley High's adviser Sam Jones moves to Padiham Green, which had none"."""
    schools, who = words.problem.schools, words.partner(p)
    word = ROLE_WORD[words.inp.graph.role][0]
    taken = " and ".join(words.taken(s) for s in took)
    gone = " and ".join(schools[s].name for s in left)
    if is_newcomer or not left:
        text = f"{who} takes {taken}"
        if not is_newcomer and freed_by is not None and freed_by != p:
            company = words.inp.graph.partners.company_ids[words.inp.graph.partners.company[p]]
            text += f", in the place at {company} that {words.partner(freed_by)} left"
    elif took:
        text = f"{gone}'s {word} {who} moves to {taken}{words.emptied(left)}"
    else:
        text = f"{gone}'s {word} {who} is freed{words.emptied(left)}"
    return Step(
        words.inp.graph.partners.ids[p], tuple(schools[s].id for s in left), tuple(schools[s].id for s in took), text
    )


def _names(problem: Problem, role: Role) -> dict[str, str]:
    if role == "adviser":
        return {a.id: a.name for a in problem.advisers if a.name}
    return {e.id: e.name for e in problem.employers}


def as_dict(found: list[RoleRecommendations]) -> list[dict[str, Any]]:
    """The recommendations as plain JSON-able data, one entry per role (the documented ``roles`` list)."""
    return [
        {
            "role": r.role,
            "method": r.method,
            "reason": r.reason,
            "base": {"coverage": r.base_coverage, "cost_units": r.base_cost_units},
            "recommendations": [_placement_dict(p) for p in r.placements],
        }
        for r in found
    ]


def _placement_dict(p: Placement) -> dict[str, Any]:
    return {
        "rank": p.rank,
        "anchor": p.anchor,
        "newcomer_pairs": list(p.newcomer_pairs),
        "chain": p.chain,
        "steps": [{"partner": s.partner, "left": list(s.left), "took": list(s.took), "text": s.text} for s in p.steps],
        "added": [dataclasses.asdict(c) for c in p.added],
        "dropped": [dataclasses.asdict(c) for c in p.dropped],
        "schools_covered": p.schools_covered,
        "slots_filled": p.slots_filled,
        "need": p.need,
        "coverage": p.coverage,
        "cost_change": round(p.cost_change, 3),
        "cost_units": p.cost_units,
        "value": p.value,
    }
