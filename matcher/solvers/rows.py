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
class Coverage:
    """Coverage: ``extra_per_var`` per chosen pair, plus ``first - extra`` per y (a school with any partner)."""

    school_vars: list[np.ndarray]
    first: np.ndarray
    extra_per_var: np.ndarray
    extra_per_school: np.ndarray


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


def coverage(inp: RoleInput) -> Coverage:
    """The coverage terms. A school with one open slot needs no y: its pairs carry the first-slot value directly,
    which keeps the LP relaxation tight; a school with several open slots gets a y over its free candidates."""
    g, free, v = inp.graph, inp.free, inp.values
    by_school = dict(_groups(g.school[free]))
    single = v.first_open & (v.open_slots == 1)
    firsts = np.flatnonzero(v.first_open & ~single)
    return Coverage(
        school_vars=[by_school.get(int(s), np.zeros(0, dtype=np.int64)) for s in firsts],
        first=v.first[firsts],
        extra_per_var=np.where(single, v.first, v.extra)[g.school[free]],
        extra_per_school=v.extra[firsts],
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
