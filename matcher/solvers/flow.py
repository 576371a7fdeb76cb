"""Exact b-matching as an OR-Tools min-cost flow, built from whole arc arrays in one call.

Network: each school supplies its open slots; a slot flows to a partner (capacity 1, the pair's cost), on through
the partner (its capacity left) and, when the policy caps companies, through the partner's company (the cap left)
to the sink. A partner's capacity is two arcs: its first unit earns the engagement unit (a negative cost), the rest
earns nothing, so a volunteer's first school is worth more than the next and the network stays a flow. A slot that
stays open flows straight to the sink along a bypass arc whose cost is its coverage value in slot units: a school's
first slot is dearer to leave open than its further ones, and the arcs are convex, so the cheapest flow is exactly
the lexicographic optimum (``matcher.objective.level_units`` proves the weights). Locked pairs are taken out
beforehand. The network also holds a source with an arc to each school carrying its open slots: without supply
it carries nothing, and the maximum flows, which start there, read the arcs up to it in place (``sourced_core``)
instead of copying ten million of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from matcher.objective import LevelUnits
from matcher.progress import Step, no_step
from matcher.residual import ranges
from matcher.solvers.base import RoleInput, RoleResult, SolverUnsuitable, result
from matcher.solvers.need import augmentable, meets_the_most_need
from matcher.solvers.pricing import FlowFailed, NetworkSolver, cheapest_pairs

PRICING = "off"  # every arc in every solve: what bench/run.py --only scale measured fastest on national rounds
CHEAPEST = 16  # candidates of each school and of each partner a solve priced throughout starts from
SPARSE_SHARE = 0.02  # of the pair arcs: those of the schools with the fewest candidates, tried alone for a shortfall
SPARSE_FLOOR = 1000  # pair arcs tried so at least, so that a hub's round is tried whole

_INT64_HEADROOM = 2**62

ArcValues = np.ndarray | int  # a column of a part of the network: one value per arc, or one value for all of them


def solve_flow(
    inp: RoleInput, time_limit_s: float | None = None, pricing: str = PRICING, step: Step = no_step
) -> RoleResult:
    """The proven-optimal choice for a role whose pairs each use one unit of capacity.

    The cheapest maximum flow, with each school's need as a negative cost on its supply arc, is the lexicographic
    optimum whenever a school has at most one open slot (then slots filled = schools covered) or every slot can be
    filled; OR-Tools finds it several times faster than the flow through bypass arcs with giant costs. Only a
    round with several slots per school that cannot all be filled needs the bypass network.

    Volunteers engaged: the flow is solved first with a small trial engagement unit (exact on every level above
    engagement, and cheaper for cost scaling than the proven unit); when it engages as many partners as any
    matching can (``_engages_the_most``) it is the lexicographic optimum, else the proven unit solves it again.

    ``pricing`` says which solves run on a growing subset of the pair arcs (``matcher.solvers.pricing``): the
    answer is the same, only the time differs. ``step`` is told each flow as it starts.
    """
    units = inp.units
    trial = units.with_engaged(units.trial) if units.trial < units.engaged else units
    n_nodes = check_flow(inp, trial)
    started = time.perf_counter()
    chosen_arcs = np.zeros(len(inp.free), dtype=bool)  # where pricing starts: shared by every solve below
    flows, net = _solve(inp, trial, pricing, chosen_arcs, step)
    if trial != units and not _engages_the_most(inp, net, flows, step):
        _check_range(inp, units, n_nodes)
        step("solving again, weighing volunteers engaged in full")
        flows, net = _solve(inp, units, pricing, chosen_arcs, step)
    chosen = np.zeros(inp.graph.size, dtype=bool)
    chosen[net.free] = flows > 0
    return result(inp, chosen, "optimal", None, "flow", time.perf_counter() - started)


def check_flow(inp: RoleInput, units: LevelUnits | None = None) -> int:
    """Raise SolverUnsuitable when the role's rules are not a flow or these weights (the proven ones by default)
    would overflow, ValueError for a capacity no arc can carry; the network's node count otherwise."""
    if not inp.unit_loads():
        raise SolverUnsuitable("pairs use different loads of capacity (a generalised assignment)")
    if inp.distinct_sectors and inp.graph.slots > 1:
        raise SolverUnsuitable("partners of one school must have distinct sectors")
    n_nodes = inp.graph.n_schools + inp.graph.partners.size + len(inp.graph.partners.company_ids) + 1
    _check_range(inp, inp.units if units is None else units, n_nodes)
    _check_capacities(inp, n_nodes)
    return n_nodes


def _check_range(inp: RoleInput, units: LevelUnits, n_nodes: int) -> None:
    """Refuse the role (the caller takes the MIP) when these weights would overflow cost scaling's 64-bit
    arithmetic: the proven weights of a capped national round come within a factor of two, so they are checked
    only when the trial unit has not already settled the round."""
    if int(inp.values.first.max(initial=0)) * units.slot >= _INT64_HEADROOM // n_nodes:
        raise SolverUnsuitable("the lexicographic costs would overflow 64-bit flow arithmetic")


def _solve(
    inp: RoleInput, units: LevelUnits, pricing: str, chosen: np.ndarray, step: Step
) -> tuple[np.ndarray, Network]:
    """Pair flows of the cheapest flow under these weights: exact on the levels above engagement whatever the
    engagement unit, and the lexicographic optimum with the proven one (``matcher.objective.level_units``)."""
    net = lexicographic_network(inp, units)
    if pricing == "all" and not chosen.any():
        chosen |= cheapest_arcs(inp, net)
    flows = _max_flow(inp, net, units, pricing, chosen, step)
    if flows is None:
        step("the cheapest flow with every open slot weighed")
        flows = _lexicographic(inp, net, pricing, chosen)
    return flows, net


def cheapest_arcs(inp: RoleInput, net: Network) -> np.ndarray:
    """The pair arcs a priced solve starts from: each school's cheapest free candidates (from the order the
    explanations use too) and each partner's."""
    g = inp.graph
    if g.locked.any():
        position = np.full(g.size, -1, dtype=np.int64)
        position[net.free] = np.arange(len(net.free))
        by_school = position[inp.by_school_and_cost]
        by_school = by_school[by_school >= 0]
    else:
        by_school = inp.by_school_and_cost  # every candidate is free: positions are arc numbers
    return cheapest_pairs(by_school, g.school[net.free], g.partner[net.free], inp.costs.units[net.free], g.n_schools,
                          g.partners.size, CHEAPEST)


def _engages_the_most(inp: RoleInput, net: Network, flows: np.ndarray, step: Step) -> bool:
    """Whether the flows engage as many partners as any matching could: every engageable partner or every open
    slot (counting alone), else when no augmenting path shows that a flow through the partners' first units
    alone could engage more (``_first_units_flow``)."""
    engaged = _engaged(inp, net, flows)
    if engaged >= min(int(inp.engageable.sum()), int(inp.values.open_slots.sum())):
        return True
    step("checking that no matching engages more volunteers")
    return not augmentable(*_first_units_flow(net, flows), len(net.free), net.n_nodes, net.sourced - net.core,
                           net.sink)


def _engaged(inp: RoleInput, net: Network, flows: np.ndarray) -> int:
    """How many engageable partners (``RoleInput.engageable``) the pair flows give a school."""
    used = np.bincount(inp.graph.partner[net.free[flows > 0]], minlength=inp.graph.partners.size) > 0
    return int((used & inp.engageable).sum())


def _first_units_flow(net: Network, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The network through the partners' first units alone, as (tails, heads, capacities), and a flow in it from
    the pair flows: one pair of each partner with a first unit, the partner, company and source arcs carrying what
    those pairs carry. Its value is the partners the flows engage, and its maximum flow the most partners any
    matching can engage: a flow exact on the levels above and cheapest for its weights that engages that many is
    the lexicographic optimum, and no cheaper choice engages as many."""
    tails, heads, caps = sourced_core(net)
    caps = caps.copy()
    caps[net.rest] = 0
    n_pairs, n_s = len(net.free), net.sourced - net.core
    first = slice(n_pairs, net.rest.start)
    used = np.flatnonzero(flows > 0)
    _, first_use = np.unique(heads[used], return_index=True)
    kept = used[first_use]
    partner = heads[kept] - n_s
    kept, partner = kept[caps[first][partner] > 0], partner[caps[first][partner] > 0]
    flow = np.zeros(len(tails), dtype=np.int64)
    flow[kept] = 1
    flow[n_pairs + partner] = 1
    companies = slice(net.rest.stop, net.core)
    flow[companies] = np.bincount(heads[first][partner], minlength=net.n_nodes)[tails[companies]]
    flow[net.core : net.sourced] = np.bincount(tails[kept], minlength=n_s)
    return tails, heads, caps, flow


def sourced_core(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's pair, partner, company and source arcs, as (tails, heads, capacities) read in place: the
    network of a maximum flow from the source, without bypass arcs."""
    return net.tails[: net.sourced], net.heads[: net.sourced], net.caps[: net.sourced]


@dataclass(frozen=True)
class Network:
    """Arc arrays: pair arcs first (flow i is free candidate i), then partner and company arcs (``core`` in all),
    then an arc from the source to each school (up to ``sourced``), then the bypass arcs. The sink is the last
    node and the source the one before it."""

    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    costs: np.ndarray
    n_nodes: int
    core: int
    sourced: int
    free: np.ndarray
    rest: slice

    @property
    def sink(self) -> int:
        return self.n_nodes - 1

    @property
    def source(self) -> int:
        return self.n_nodes - 2


def _max_flow(
    inp: RoleInput, net: Network, units: LevelUnits, pricing: str, chosen: np.ndarray, step: Step
) -> np.ndarray | None:
    """Pair flows of the cheapest maximum flow (need first, then engagement, then cost), or None when it may not
    be lexicographic.

    A round that can fill every open slot leaves need out of the costs: need costs are millions of times larger
    than the pair costs and slow cost scaling down 2.5-fold, and whatever the choice every school's need is then
    met. Whether it can is counted first, then tried on the schools with the fewest candidates alone
    (``_sparse_fall_short``), then settled by OR-Tools' own feasibility check (a maximum flow before it scales
    costs; priced throughout, by the priced maximum flow). A round that cannot takes the need costs:
    where each school has one slot, first with the small ``need_trial`` unit, kept when ``matcher.solvers.need``
    proves it covers the most need; else with the proven unit, since between maximum flows a residual cycle
    changes need, engagement and cost by the bounds of ``level_units``.
    """
    v = inp.values
    total = int(v.open_slots.sum())
    source, sink = net.source, net.sink
    tails, heads, caps = sourced_core(net)
    costs = net.costs[: net.sourced].copy()  # the source arcs' costs are need costs below
    solver = NetworkSolver(tails, heads, caps, net.n_nodes, len(net.free), pricing, chosen)
    one_slot = int(v.open_slots.max(initial=0)) <= 1
    with _named(inp):
        flows = None
        if _may_fill_all(inp, total) and not _sparse_fall_short(net, v.open_slots):
            step("the cheapest matching that fills every open slot")
            flows = solver.fill_all(costs, source, sink, total)
        if flows is None and one_slot and units.need_trial < units.slot:
            step("the cheapest matching that covers the most need")
            costs[net.core :] = -v.need_level * units.need_trial
            flows, _ = solver.max_flow_min_cost(costs, source, sink, total)
            if not meets_the_most_need(tails, heads, caps, flows, len(net.free), net.n_nodes, v.open_slots,
                                       v.need_level):
                flows = None
        if flows is None:
            step("the cheapest matching that covers the most need, need weighed in full")
            costs[net.core :] = -v.need_level * units.slot
            flows, filled = solver.max_flow_min_cost(costs, source, sink, total)
            if filled < total and not one_slot:
                return None
    return flows[: len(net.free)]


def _may_fill_all(inp: RoleInput, total: int) -> bool:
    """False when counting alone shows that some open slot must stay open: fewer candidates than open slots at a
    school, or less capacity (or, capped, fewer company places) than open slots in all. A national round with
    ``max_schools_per_company`` is such a case, and this saves its maximum flow."""
    g, v = inp.graph, inp.values
    candidates = np.diff(np.searchsorted(inp.of_free(g.school), np.arange(g.n_schools + 1)))  # sorted by school
    if np.any(candidates < v.open_slots):
        return False
    partner_room = np.floor(inp.capacity_left() + 1e-9)
    company_left = inp.company_left()
    if company_left is not None:
        company_room = np.bincount(g.partners.company, weights=partner_room, minlength=len(company_left))
        return float(np.minimum(company_room, company_left).sum()) >= total
    return float(partner_room.sum()) >= total


def _sparse_fall_short(net: Network, open_slots: np.ndarray) -> bool:
    """Whether the schools with the fewest candidates cannot, on their own, fill their open slots: a maximum flow
    over their pair arcs alone (a few per cent of them). A flow that filled every slot would fill theirs, so then
    none does, and the whole network's feasibility check is saved: a maximum flow over every pair arc, a second or
    two at 20,000 schools. Where slots must stay open it is mostly where schools are far apart and candidates
    few (the 20,000-school round: 33 remote schools share 29 advisers); a shortfall elsewhere is left to the
    full check."""
    tails, heads, caps = sourced_core(net)
    n_pairs, n_s = len(net.free), len(open_slots)
    starts = np.searchsorted(tails[:n_pairs], np.arange(n_s + 1))  # pair arcs are sorted by school
    wanting = np.flatnonzero(open_slots > 0)
    counts = np.diff(starts)[wanting]
    order = np.argsort(counts, kind="stable")
    few = wanting[order[np.cumsum(counts[order]) <= max(SPARSE_SHARE * n_pairs, SPARSE_FLOOR)]]
    if not few.size:
        return False
    arcs = np.concatenate([ranges(starts[few], starts[few + 1]), np.arange(n_pairs, net.core), net.core + few])
    sparse = NetworkSolver(tails[arcs], heads[arcs], caps[arcs], net.n_nodes, 0, "off", np.zeros(0, dtype=bool))
    return sparse.max_flow(net.source, net.sink, caps[arcs]) < int(open_slots[few].sum())


def _lexicographic(inp: RoleInput, net: Network, pricing: str, chosen: np.ndarray) -> np.ndarray:
    """Pair flows of the cheapest flow through the network with bypass arcs: the lexicographic optimum."""
    supplies = np.zeros(net.n_nodes, dtype=np.int64)
    supplies[: inp.graph.n_schools] = inp.values.open_slots
    supplies[net.sink] = -int(inp.values.open_slots.sum())
    solver = NetworkSolver(net.tails, net.heads, net.caps, net.n_nodes, len(net.free), pricing, chosen)
    with _named(inp):
        return solver.min_cost(net.costs, supplies)[: len(net.free)]


def _check_capacities(inp: RoleInput, n_nodes: int) -> None:
    """Refuse, by name, a partner whose capacity no 64-bit arc can carry (the problem format's ranges keep every
    real one far below): cast to an arc it would wrap round, and the flow would fail for the whole hub."""
    capacity = inp.capacity_left()
    too_big = np.flatnonzero(~np.isfinite(capacity) | (capacity >= _INT64_HEADROOM // n_nodes))
    if too_big.size:
        named = ", ".join(f"{inp.graph.partners.ids[j]!r} ({capacity[j]:g})" for j in too_big[:5])
        raise ValueError(f"The capacity of {_role_name(inp)} {named} is too large for the min-cost flow.")


@contextlib.contextmanager
def _named(inp: RoleInput) -> Iterator[None]:
    """A flow that did not solve names its role and the partner with the most capacity left, the first suspect."""
    try:
        yield
    except FlowFailed as err:
        capacity = inp.capacity_left()
        suspect = (
            f"; largest capacity: {inp.graph.partners.ids[int(np.argmax(capacity))]!r} ({float(capacity.max()):g})"
            if capacity.size
            else ""
        )
        role = _role_name(inp)
        raise RuntimeError(f"min-cost flow of the {role}s ended with status {err.status!r}{suspect}") from None


def _role_name(inp: RoleInput) -> str:
    return "adviser" if inp.graph.role == "adviser" else "employer"


def lexicographic_network(inp: RoleInput, units: LevelUnits | None = None) -> Network:
    """The lexicographic network of the role (see the module docstring), weighted by ``units`` (the proven ones
    by default); ``matcher.recommend`` augments it too."""
    g, v = inp.graph, inp.values
    n_s, n_p = g.n_schools, g.partners.size
    company_left = inp.company_left()
    n_c = 0 if company_left is None else len(company_left)
    source = n_s + n_p + n_c
    sink = source + 1
    free = inp.free
    schools = np.arange(n_s)
    first_schools = schools[v.first_open]
    units = inp.units if units is None else units
    unit = units.slot
    partner_next = sink if company_left is None else n_s + n_p + g.partners.company
    room = np.floor(inp.capacity_left() + 1e-9)
    first = np.minimum(room, 1) * inp.engageable
    parts: list[tuple[int, ArcValues, ArcValues, ArcValues, ArcValues]] = [
        (len(free), inp.of_free(g.school), inp.of_free(g.partner), 1, inp.of_free(inp.costs.units)),
        (n_p, n_s + np.arange(n_p), partner_next, first, -units.engaged),
        (n_p, n_s + np.arange(n_p), partner_next, room - first, 0),
    ]
    if company_left is not None:
        parts.append((n_c, n_s + n_p + np.arange(n_c), sink, company_left, 0))
    core = sum(p[0] for p in parts)
    parts.append((n_s, source, schools, v.open_slots, 0))
    parts += [
        (len(first_schools), first_schools, sink, 1, v.first[first_schools] * unit),
        (n_s, schools, sink, v.open_slots - v.first_open, v.extra * unit),
    ]
    tails, heads, caps, costs = _columns(parts)
    heads[: len(free)] += n_s  # partner nodes follow the schools
    rest = slice(len(free) + n_p, len(free) + 2 * n_p)
    return Network(tails, heads, caps, costs, sink + 1, core, core + n_s, free, rest)


def _columns(parts: list[tuple[int, ArcValues, ArcValues, ArcValues, ArcValues]]) -> tuple[np.ndarray, ...]:
    """Tails, heads, capacities and costs of the parts (each an arc count and its four columns), every column
    allocated once and filled in place, a single value filling its whole part: at 20,000 schools, columns of ten
    million ones or offsets made only to be copied, and the fresh memory they fault in, were most of the build."""
    n = sum(p[0] for p in parts)
    columns = tuple(np.empty(n, dtype=dtype) for dtype in (np.int32, np.int32, np.int64, np.int64))
    at = 0
    for count, *values in parts:
        for column, value in zip(columns, values, strict=True):
            column[at : at + count] = value
        at += count
    return columns
