"""The lexicographic objective as exact integers, shared by every solver so that they agree to the unit.

Levels, most important first:
1. schools covered: a school with at least one partner of the role (only distinct from 2. when a school wants more
   than one partner of the role);
2. slots filled: partners given to schools in all;
3. need: among coverings of equal size, the needier schools (need in tenths, ``NEED_LEVELS``);
4. volunteers engaged: distinct partners with at least one school (a partner's first school is worth more than
   its next, so nobody who signed up hears nothing while another takes two);
5. cost: the sum of the candidates' integer cost units.
Levels 1-3 are one integer per slot (``SlotValues``); ``LevelUnits`` gives the weights of levels 3-5 in cost units,
just large enough for one weighted sum to be exact in a flow network (see ``level_units`` for the proof).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from matcher.candidates import CandidateGraph
from matcher.costs import Costs

NEED_LEVELS = 10


@dataclass(frozen=True)
class SlotValues:
    """Coverage value of filling a school's first open slot, and of each further one."""

    open_slots: np.ndarray
    first_open: np.ndarray
    first: np.ndarray
    extra: np.ndarray
    need_level: np.ndarray
    locked_load: np.ndarray
    locked_company: np.ndarray

    def coverage(self, filled: np.ndarray) -> int:
        """Coverage value of filling ``filled[s]`` open slots of each school."""
        firsts = self.first_open & (filled > 0)
        return int((self.first * firsts).sum() + (self.extra * (filled - firsts)).sum())


def slot_values(graph: CandidateGraph, costs: Costs) -> SlotValues:
    """The coverage values of the open slots of each school, after its locked pairs."""
    locked_count = np.bincount(graph.school[graph.locked], minlength=graph.n_schools)
    open_slots = np.maximum(graph.school_slots - locked_count, 0)
    first_open = (locked_count == 0) & (open_slots > 0)
    total = int(open_slots.sum())
    need = np.rint(costs.need * NEED_LEVELS).astype(np.int64)
    c2 = NEED_LEVELS * total + 1
    c1 = (total + 1) * c2 if graph.slots > 1 else 0
    n_companies = len(graph.partners.company_ids)
    locked_company = (
        np.bincount(graph.partners.company[graph.partner[graph.locked]], minlength=n_companies)
        if n_companies
        else np.zeros(0, dtype=np.int64)
    )
    return SlotValues(
        open_slots=open_slots.astype(np.int64),
        first_open=first_open,
        first=(c1 + c2 + need).astype(np.int64),
        extra=(c2 + need).astype(np.int64),
        need_level=need,
        locked_load=np.bincount(
            graph.partner[graph.locked], weights=graph.load[graph.locked], minlength=graph.partners.size
        ),
        locked_company=locked_company,
    )


def cost_unit(costs: Costs, values: SlotValues) -> int:
    """A coverage unit in cost units: more than any difference the cost level can make."""
    biggest = int(np.abs(costs.units).max()) if len(costs.units) else 0
    return 2 * int(values.open_slots.sum()) * biggest + 1


@dataclass(frozen=True)
class LevelUnits:
    """Weights, in cost units, of one partner engaged (``engaged``) and of one unit of ``SlotValues`` (``slot``).

    ``reach`` bounds the cost change of one residual cycle and ``k`` the partners it engages (see
    ``level_units``); ``trial`` is a much smaller engagement unit worth trying first (``with_engaged``)."""

    engaged: int
    slot: int
    reach: int = 0
    k: int = 1
    trial: int = 0

    @property
    def need_trial(self) -> int:
        """A much smaller slot unit worth trying first where need decides who stays uncovered: one need level
        outweighs one partner engaged, where ``slot`` outweighs ``k`` of them and ``reach`` (the bounds on what one
        residual cycle can change; under a company cap ``k`` is the number of companies). Any unit is exact once
        ``matcher.solvers.need`` proves the flow covers the most need, which ``matcher.solvers.flow`` checks; the
        smaller the unit the faster cost scaling runs (bench/README.md, Growth), and below one engagement the flow
        trades need for partners engaged."""
        return self.engaged + 1

    def with_engaged(self, engaged: int) -> LevelUnits:
        """The same levels with another engagement unit, the slot unit just above what it can add."""
        return replace(self, engaged=engaged, slot=self.k * engaged + self.reach + 1)


TRIAL_SPANS = 16


def level_units(graph: CandidateGraph, costs: Costs, values: SlotValues, engage: bool = True) -> LevelUnits:
    """The smallest weights this bound can prove exact, so that the flow's cost range grows as little as possible.

    Why they are exact: if a flow F is cheapest but some feasible G is lexicographically better, G - F splits into
    simple cycles of F's residual network, each feasible alone and none cheaper than zero. A simple cycle visits a
    school at most once, where it swaps one pair for another (or fills or empties one slot), so its cost changes by
    at most R = the sum over schools of (dearest - cheapest free candidate) plus the span of all costs and zero
    (a slot filled or emptied at an end); ``R + 1`` is the engagement unit. The cycle passes the sink (and each
    company node) once, so it engages or releases at most K partners (K = 1, or 1 + companies under a cap), and
    coverage and need change by a whole number of slot units: a slot unit above ``K * engaged + R`` outweighs
    both lower levels. Some cycle of G - F then gains at the first level where G is better, which makes it
    cheaper than zero.

    Even so the engagement unit is thousands of times the dearest pair and slows cost scaling down threefold
    nationally, so ``trial`` (``TRIAL_SPANS`` times the span of one pair's cost) is tried first: with any
    engagement unit the flow is exact on the levels above, and when it engages as many partners as a maximum flow
    says any matching can, it is the lexicographic optimum too (``matcher.solvers.flow``).
    """
    if not engage:
        return LevelUnits(engaged=0, slot=cost_unit(costs, values))
    units, school = costs.units, graph.school
    if graph.locked.any():  # a national round has no locks: no copy of its ten million candidates
        free = np.flatnonzero(~graph.locked)
        units, school = units[free], school[free]
    if not len(units):
        return LevelUnits(engaged=1, slot=2, trial=1)
    starts = np.flatnonzero(np.r_[True, school[1:] != school[:-1]])  # candidates are sorted by school
    spread = int((np.maximum.reduceat(units, starts) - np.minimum.reduceat(units, starts)).sum())
    span = max(int(units.max()), 0) - min(int(units.min()), 0)
    capped = graph.partners.company_cap is not None and len(graph.partners.company_ids) > 0
    k = 1 + (min(len(graph.partners.company_ids), graph.partners.size) if capped else 0)
    proven = LevelUnits(engaged=0, slot=0, reach=spread + span, k=k).with_engaged(spread + span + 1)
    return replace(proven, trial=min(TRIAL_SPANS * (span + 1), proven.engaged))
