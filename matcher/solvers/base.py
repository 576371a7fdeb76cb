"""What every solver takes and gives back, so they can be swapped by name and checked against each other."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from matcher.candidates import CandidateGraph
from matcher.costs import Costs
from matcher.objective import LevelUnits, SlotValues, level_units


@dataclass(frozen=True)
class RoleInput:
    """One role's matching problem as arrays: the graph, its costs and the coverage values of open slots.

    ``engage`` keeps the "volunteers engaged" level of the objective; only the benchmark turns it off, to time
    the objective without it in the same run."""

    graph: CandidateGraph
    costs: Costs
    values: SlotValues
    distinct_sectors: bool = False
    engage: bool = True

    @cached_property
    def free(self) -> np.ndarray:
        """Positions of the candidates a solver decides (locked ones are already in), computed once."""
        return np.flatnonzero(~self.graph.locked)

    @cached_property
    def any_locked(self) -> bool:
        return bool(self.graph.locked.any())

    def of_free(self, column: np.ndarray) -> np.ndarray:
        """A candidate column at the free positions: the column itself when nothing is locked (a national round
        has no locks, and a copy of ten million rows is a tenth of a second)."""
        return column[self.free] if self.any_locked else column

    def capacity_left(self) -> np.ndarray:
        """Each partner's capacity after its locked pairs, in the partner's own units."""
        return np.maximum(self.graph.partners.capacity - self.values.locked_load, 0.0)

    def company_left(self) -> np.ndarray | None:
        """Schools each company may still take, or None when the policy sets no company cap."""
        cap = self.graph.partners.company_cap
        if cap is None or not len(self.graph.partners.company_ids):
            return None
        return np.maximum(cap - self.values.locked_company, 0)

    @cached_property
    def units(self) -> LevelUnits:
        """The weights of the objective's levels in cost units (``matcher.objective.level_units``), computed once."""
        return level_units(self.graph, self.costs, self.values, self.engage)

    @cached_property
    def by_school_and_cost(self) -> np.ndarray:
        """Candidate positions ordered by school, then cost, then position, computed once: the next-best partners
        of the explanations and the cheapest candidates the priced flow starts from both read it.

        One sort of a combined integer key that ends in the position, so that every key is distinct and numpy's
        default sort, twice as fast as its stable one on ten million candidates, gives the stable order (ten times
        faster than ``np.lexsort`` on the two columns).
        """
        school, units = self.graph.school, self.costs.units
        n = len(units)
        if not n:
            return np.zeros(0, dtype=np.int64)
        low = int(units.min())
        span = int(units.max()) - low + 1
        if span * (int(school.max()) + 1) * n >= 2**62:
            return np.lexsort((units, school))
        return np.argsort((school.astype(np.int64) * span + (units - low)) * n + np.arange(n))

    @cached_property
    def engageable(self) -> np.ndarray:
        """Partners whose first school would engage them: free candidates, room, and no locked pair yet; computed
        once."""
        g = self.graph
        has_free = np.zeros(g.partners.size, dtype=bool)
        has_free[self.of_free(g.partner)] = True  # no int64 copy of ten million partner indices, as bincount makes
        has_locked = np.bincount(g.partner[g.locked], minlength=g.partners.size) > 0
        return has_free & ~has_locked & (self.capacity_left() > 0)

    def unit_loads(self) -> bool:
        """True when every free pair uses one unit of capacity: then the role is a flow problem."""
        return bool(np.all(self.of_free(self.graph.load) == 1.0))


@dataclass(frozen=True)
class RoleResult:
    """A solver's answer for one role: the chosen candidates and how good they are proven to be."""

    chosen: np.ndarray
    status: str
    coverage: int
    cost_units: int
    bound_units: float
    solver: str
    seconds: float


class SolverUnsuitable(Exception):
    """Raised by a solver that cannot represent this role's rules exactly (the caller picks another)."""


def filled_per_school(inp: RoleInput, chosen: np.ndarray) -> np.ndarray:
    """How many open slots of each school the chosen free candidates fill."""
    free_chosen = chosen & ~inp.graph.locked
    return np.bincount(inp.graph.school[free_chosen], minlength=inp.graph.n_schools)


def time_left(time_limit_s: float, started: float) -> float:
    """What is left of a staged solver's limit, but never less than a twentieth of it, so that every stage of the
    lexicographic objective gets a look (a stage past the limit still improves on the choice it was seeded with)."""
    return max(time_limit_s - (time.perf_counter() - started), 0.05 * time_limit_s)


def result(
    inp: RoleInput, chosen: np.ndarray, status: str, bound_units: float | None, solver: str, seconds: float
) -> RoleResult:
    """Build a RoleResult, recomputing coverage and cost from the choice itself (never trusting a solver's sum)."""
    chosen = chosen | inp.graph.locked
    cost = int(inp.costs.units[chosen].sum())
    return RoleResult(
        chosen=chosen,
        status=status,
        coverage=inp.values.coverage(filled_per_school(inp, chosen)),
        cost_units=cost,
        bound_units=float(cost if bound_units is None or status == "optimal" else bound_units),
        solver=solver,
        seconds=seconds,
    )


def staged_result(
    inp: RoleInput,
    hint: np.ndarray | None,
    choice: np.ndarray | None,
    proven: bool,
    bound_units: float | None,
    solver: str,
    started: float,
) -> RoleResult:
    """The result of a staged solver: its last choice of free pairs (else the hint), proven only if every stage
    was, and "unknown" when no stage found a solution."""
    chosen = np.zeros(inp.graph.size, dtype=bool) if hint is None else hint.copy()
    if choice is not None:
        chosen[inp.free] = choice
    status = "optimal" if proven else ("unknown" if choice is None else "feasible")
    return result(inp, chosen, status, bound_units, solver, time.perf_counter() - started)
