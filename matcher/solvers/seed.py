"""A feasible starting point for CP-SAT and the MIP: the flow optimum of a relaxed role, repaired greedily.

The relaxation counts every pair as one unit of a capacity expressed in typical loads and ignores sectors, so it
is solved exactly and fast; the repair then keeps its pairs cheapest first while every rule still holds. Where the
relaxation's lexicographic weights would overflow 64-bit flow arithmetic (a national round with several slots per
school), its cheapest maximum flow (most slots filled, then least cost) seeds instead: the staged solver takes the
levels from there.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from matcher.objective import LevelUnits
from matcher.solvers.base import RoleInput, SolverUnsuitable
from matcher.solvers.flow import PRICING, lexicographic_network, solve_flow, sourced_core
from matcher.solvers.pricing import FlowFailed, NetworkSolver


def seed(inp: RoleInput) -> np.ndarray:
    """A choice of candidates (locked included) that satisfies every rule of the role."""
    relaxed = _relaxed(inp)
    try:
        chosen = solve_flow(relaxed).chosen
    except SolverUnsuitable:
        chosen = cheapest_max_flow(relaxed)
    return repair(inp, chosen)


def cheapest_max_flow(inp: RoleInput) -> np.ndarray:
    """The candidates (locked included) of the cheapest flow filling the most open slots of a unit-load role: the
    lexicographic network's pair, partner and company arcs with pair costs only, so no weight can overflow."""
    net = lexicographic_network(inp, LevelUnits(engaged=0, slot=0))  # only its pair costs are used
    n_pair, total = len(net.free), int(inp.values.open_slots.sum())
    costs = np.zeros(net.sourced, dtype=np.int64)
    costs[:n_pair] = net.costs[:n_pair]
    tails, heads, caps = sourced_core(net)
    solver = NetworkSolver(tails, heads, caps, net.n_nodes, n_pair, PRICING, np.zeros(n_pair, dtype=bool))
    try:
        flows, _ = solver.max_flow_min_cost(costs, net.source, net.sink, total)
    except FlowFailed as err:
        raise RuntimeError(f"the seed's maximum flow did not solve ({err.status!r})") from None
    chosen = inp.graph.locked.copy()
    chosen[net.free] = flows[:n_pair] > 0
    return chosen


def _relaxed(inp: RoleInput) -> RoleInput:
    g = inp.graph
    free_load = g.load[~g.locked]
    typical = float(np.median(free_load)) if len(free_load) else 1.0
    schools_worth = np.floor(inp.capacity_left() / typical) + inp.values.locked_load
    partners = dataclasses.replace(g.partners, capacity=schools_worth)
    graph = dataclasses.replace(g, partners=partners, load=np.ones(g.size))
    values = dataclasses.replace(inp.values, locked_load=np.bincount(g.partner[g.locked], minlength=partners.size))
    return RoleInput(graph, inp.costs, values, distinct_sectors=False)


def repair(inp: RoleInput, chosen: np.ndarray) -> np.ndarray:
    """Keep chosen free pairs, cheapest first, while slots, capacity, company caps and sectors allow."""
    g = inp.graph
    slots = inp.values.open_slots.copy()
    capacity = inp.capacity_left()
    company = inp.company_left()
    primary = [ps[0] if ps else None for ps in g.partners.sectors]
    taken = {(int(s), primary[p]) for s, p in zip(g.school[g.locked], g.partner[g.locked], strict=True)}
    kept = g.locked.copy()
    candidates = np.flatnonzero(chosen & ~g.locked)
    for c in candidates[np.argsort(inp.costs.units[candidates], kind="stable")]:
        s, p, load = int(g.school[c]), int(g.partner[c]), float(g.load[c])
        co = int(g.partners.company[p])
        sector_clash = inp.distinct_sectors and primary[p] is not None and (s, primary[p]) in taken
        if slots[s] < 1 or capacity[p] + 1e-9 < load or (company is not None and company[co] < 1) or sector_clash:
            continue
        kept[c] = True
        slots[s] -= 1
        capacity[p] -= load
        if company is not None:
            company[co] -= 1
        taken.add((s, primary[p]))
    return kept
