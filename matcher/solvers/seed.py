"""A feasible starting point for CP-SAT and the MIP: the flow optimum of a relaxed role, repaired greedily.

The relaxation counts every pair as one unit of a capacity expressed in typical loads and ignores sectors, so it
is solved exactly and fast; the repair then keeps its pairs cheapest first while every rule still holds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from matcher.solvers.base import RoleInput
from matcher.solvers.flow import solve_flow


def seed(inp: RoleInput) -> np.ndarray:
    """A choice of candidates (locked included) that satisfies every rule of the role."""
    return repair(inp, solve_flow(_relaxed(inp)).chosen)


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
