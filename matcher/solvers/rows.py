"""The role's rules as sparse linear rows over the free candidates, for the CP-SAT and MIP solvers alike.

Writing the rows once keeps the two integer-programming solvers to the same model, so the benchmark compares
solvers and not formulations, and the tests can check them against each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from matcher.solvers.base import RoleInput


@dataclass(frozen=True)
class Row:
    """sum(coef[i] * x[var[i]]) <= upper, with ``var`` positions in the free-candidate list."""

    var: np.ndarray
    coef: np.ndarray
    upper: float


@dataclass(frozen=True)
class Stage:
    """One level of the lexicographic objective: integer coefficients over the x's, then the y's."""

    coef: np.ndarray
    maximise: bool


@dataclass(frozen=True)
class Levels:
    """The lexicographic objective as stages, solved in turn, each held at its value while the next is optimised.

    The stages, most important first: schools covered (only when a school may take several partners), slots
    filled, need, volunteers engaged (all maximised), then cost (minimised). ``school_vars`` lists, for each y (a
    school with several open slots), the positions of its pairs; ``partner_vars`` for each z (an engageable partner,
    ``RoleInput.engageable``) the positions of its pairs. Stage coefficients run over the x's, the y's, the z's.

    Why not one weighted sum: its coverage units are thousands of cost units apart, and the relaxation then sits a
    fraction of a school above the best integer coverage, a gap no solver could close on hard generalised
    assignments (SCIP left 2 of 5 benchmark seeds unproven at 60 s). With a count as the objective the bound
    rounds down to a whole number of schools, and all ten seeds are proven in 1-11 s (bench/run.py, table 3a).
    """

    school_vars: list[np.ndarray]
    partner_vars: list[np.ndarray]
    stages: list[Stage]


def rows(inp: RoleInput) -> Iterator[Row]:
    """Slots per school, capacity per partner, cap per company, and distinct sectors where the policy asks."""
    g, free = inp.graph, inp.free
    school, partner, load = g.school[free], g.partner[free], g.load[free]
    for s, var in _groups(school):
        yield Row(var, np.ones(len(var)), float(inp.values.open_slots[s]))
    capacity = inp.capacity_left()
    for p, var in _groups(partner):
        yield Row(var, load[var], float(capacity[p]))
    company_left = inp.company_left()
    if company_left is not None:
        for c, var in _groups(g.partners.company[partner]):
            yield Row(var, np.ones(len(var)), float(company_left[c]))
    if inp.distinct_sectors and g.slots > 1:
        yield from _distinct_sector_rows(inp, free)


def levels(inp: RoleInput) -> Levels:
    """The objective levels of the role (see ``Levels``), matching ``matcher.objective``'s exact weights: a school
    with one open slot needs no y, its pairs count directly, which keeps the relaxation tight."""
    g, free, v = inp.graph, inp.free, inp.values
    school = g.school[free]
    by_school = dict(_groups(school))
    single = v.first_open & (v.open_slots == 1)
    firsts = [int(s) for s in np.flatnonzero(v.first_open & ~single) if int(s) in by_school]
    by_partner = dict(_groups(g.partner[free]))
    engageable = [int(p) for p in np.flatnonzero(inp.engageable)] if inp.engage else []
    n_x, n_y, n_z = len(free), len(firsts), len(engageable)

    def over(x: np.ndarray, y: int = 0, z: int = 0) -> np.ndarray:
        return np.r_[x.astype(np.int64), np.full(n_y, y, dtype=np.int64), np.full(n_z, z, dtype=np.int64)]

    counts = [over(np.ones(n_x)), over(v.need_level[school]), over(np.zeros(n_x), z=1)]
    if g.slots > 1:
        counts.insert(0, over(single[school], y=1))
    return Levels(
        school_vars=[by_school[s] for s in firsts],
        partner_vars=[by_partner[p] for p in engageable],
        stages=[Stage(c, True) for c in counts if c.any()] + [Stage(over(inp.costs.units[free]), False)],
    )


def _distinct_sector_rows(inp: RoleInput, free: np.ndarray) -> Iterator[Row]:
    """At most one partner per primary sector for each school, counting its locked partners."""
    g = inp.graph
    names = sorted({ps[0] for ps in g.partners.sectors if ps})
    code = {name: k for k, name in enumerate(names)}
    primary = np.array([code[ps[0]] if ps else -1 for ps in g.partners.sectors], dtype=np.int64)
    taken = {(int(s), int(primary[p])) for s, p in zip(g.school[g.locked], g.partner[g.locked], strict=True)}
    sector = primary[g.partner[free]]
    keys = g.school[free] * (len(names) + 1) + sector
    for key, var in _groups(np.where(sector >= 0, keys, -1)):
        s, k = divmod(key, len(names) + 1)
        if key >= 0 and (len(var) > 1 or (s, k) in taken):
            yield Row(var, np.ones(len(var)), 0.0 if (s, k) in taken else 1.0)


def _groups(keys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(key, positions) for each distinct key, in key order; positions ascending."""
    if not len(keys):
        return
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], len(keys)], strict=True):
        yield int(sorted_keys[start]), order[start:stop]
