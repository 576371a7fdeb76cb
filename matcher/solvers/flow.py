"""Exact b-matching as an OR-Tools min-cost flow, built from whole arc arrays in one call.

Network: each school supplies its open slots; a slot flows to a partner (capacity 1, the pair's cost), on through
the partner (its capacity left) and, when the policy caps companies, through the partner's company (the cap left)
to the sink. A slot that stays open flows straight to the sink along a bypass arc whose cost is its coverage value
in cost units: a school's first slot is dearer to leave open than its further ones, and the arcs are convex, so the
cheapest flow is exactly the lexicographic optimum. Locked pairs are taken out beforehand.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.graph.python import min_cost_flow

from matcher.objective import cost_unit
from matcher.solvers.base import RoleInput, RoleResult, SolverUnsuitable, result

_INT64_HEADROOM = 2**62


def solve_flow(inp: RoleInput, time_limit_s: float | None = None) -> RoleResult:
    """The proven-optimal choice for a role whose pairs each use one unit of capacity."""
    if not inp.unit_loads():
        raise SolverUnsuitable("pairs use different loads of capacity (a generalised assignment)")
    if inp.distinct_sectors and inp.graph.slots > 1:
        raise SolverUnsuitable("partners of one school must have distinct sectors")
    started = time.perf_counter()
    n_nodes = inp.graph.n_schools + inp.graph.partners.size + len(inp.graph.partners.company_ids) + 1
    if int(inp.values.first.max(initial=0)) * cost_unit(inp.costs, inp.values) >= _INT64_HEADROOM // n_nodes:
        raise SolverUnsuitable("the lexicographic costs would overflow 64-bit flow arithmetic")
    tails, heads, caps, costs, n_nodes, free = _arcs(inp)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[: inp.graph.n_schools] = inp.values.open_slots
    supplies[-1] = -int(inp.values.open_slots.sum())
    flow.set_nodes_supplies(np.arange(n_nodes, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status!r}")
    chosen = np.zeros(inp.graph.size, dtype=bool)
    chosen[free] = flow.flows(np.arange(len(free), dtype=np.int32)) > 0
    return result(inp, chosen, "optimal", None, "flow", time.perf_counter() - started)


def _arcs(inp: RoleInput) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """Arc arrays (pair arcs first, so flow i is pair i), the node count and the free candidates' positions."""
    g, v = inp.graph, inp.values
    n_s, n_p = g.n_schools, g.partners.size
    company_left = inp.company_left()
    n_c = 0 if company_left is None else len(company_left)
    sink = n_s + n_p + n_c
    free = inp.free
    schools = np.arange(n_s)
    first_schools = schools[v.first_open]
    extra_caps = v.open_slots - v.first_open
    unit = cost_unit(inp.costs, v)
    partner_next = sink if company_left is None else n_s + n_p + g.partners.company
    parts = [
        (g.school[free], n_s + g.partner[free], np.ones(len(free)), inp.costs.units[free]),
        (n_s + np.arange(n_p), np.broadcast_to(partner_next, (n_p,)), np.floor(inp.capacity_left() + 1e-9),
         np.zeros(n_p)),
        (first_schools, np.full(len(first_schools), sink), np.ones(len(first_schools)), v.first[first_schools] * unit),
        (schools, np.full(n_s, sink), extra_caps, v.extra * unit),
    ]
    if company_left is not None:
        parts.append((n_s + n_p + np.arange(n_c), np.full(n_c, sink), company_left, np.zeros(n_c)))
    tails, heads, caps, costs = (np.concatenate([p[k] for p in parts]).astype(np.int64) for k in range(4))
    return tails.astype(np.int32), heads.astype(np.int32), caps, costs, sink + 1, free
