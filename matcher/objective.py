"""The lexicographic objective as exact integers, shared by every solver so that they agree to the unit.

Levels, most important first:
1. schools covered: a school with at least one partner of the role (only distinct from 2. when a school wants more
   than one partner of the role);
2. slots filled: partners given to schools in all;
3. need: among coverings of equal size, the needier schools (need in tenths, ``NEED_LEVELS``);
4. cost: the sum of the candidates' integer cost units.
Each level's unit is larger than everything the levels below it can add up to, so one weighted sum is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

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
