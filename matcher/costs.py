"""Named cost components of every candidate, vectorised over the candidate arrays.

Each component is normalised to [0, 1] (distance can pass 1 only on a locked pair out of reach; continuity is a
reward, in [-1, 0]) and multiplied by
its policy weight, so the total is a weighted sum a coordinator can read back component by component:

- ``distance``: km over the partner's travel radius;
- ``sector``: 1 minus the best fit between the partner's sectors and what the school wants (its own sectors count 1,
  the hub's priority sectors count their weight);
- ``need``: 1 minus the school's need, so needier schools are cheaper to serve and come first;
- ``continuity``: -1 on the school's current pairing: keeping it is cheaper, by the continuity weight, than any
  change, leaving the school without a partner included (a charge on the other pairs would not see that case).

A pair imported with a ``cost`` carries that cost alone, as the ``given`` component. Solvers see integer
``units`` (thousandths), so that flow, CP-SAT and MIP optimise exactly the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.candidates import CandidateGraph, positions_of
from models.domain import Problem

SCALE = 1000
COMPONENTS = ("distance", "sector", "need", "continuity", "given")


@dataclass(frozen=True)
class Costs:
    """Weighted components (one column per name in COMPONENTS), their total and its integer units."""

    components: np.ndarray
    total: np.ndarray
    units: np.ndarray
    need: np.ndarray

    def of(self, rows: np.ndarray) -> list[dict[str, float]]:
        """The non-zero components of each of the given candidates, by name."""
        return [
            {name: v for name, v in zip(COMPONENTS, row, strict=True) if v != 0.0}
            for row in self.components[rows].tolist()
        ]


def score(problem: Problem, graph: CandidateGraph) -> Costs:
    """Cost every candidate of ``graph`` under the problem's policy weights."""
    w = problem.policy.weights
    need = school_need(problem, graph.role)
    given = ~np.isnan(graph.given_cost)
    comps = np.zeros((graph.size, len(COMPONENTS)))
    comps[:, 0] = w.distance * graph.distance_km / graph.partners.radius_km[graph.partner]
    comps[:, 1] = w.sector * (1.0 - sector_fit(problem, graph))
    comps[:, 2] = w.need * (1.0 - need[graph.school])
    comps[:, 3] = -w.continuity * _is_current(problem, graph)
    comps[given, :4] = 0.0
    comps[given, 4] = graph.given_cost[given]
    total = comps.sum(axis=1)
    return Costs(components=comps, total=total, units=np.rint(total * SCALE).astype(np.int64), need=need)


def school_need(problem: Problem, role: str) -> np.ndarray:
    """Each school's need in [0, 1] for this role (0.5 where the school reported nothing).

    Cornerstone Employers run encounters and workplace experiences, so their need is the gap on Gatsby
    benchmarks 5 and 6 plus disadvantage (free school meals, 40% or more counting as full need); an adviser
    helps the whole careers programme, so theirs is the mean gap over all eight benchmarks plus disadvantage.
    The two terms are averaged over those the school reported.
    """
    benchmarks = ("5", "6") if role == "cornerstone" else tuple(str(b) for b in range(1, 9))
    marks = np.array([[s.gatsby.get(b, np.nan) for b in benchmarks] for s in problem.schools], dtype=np.float64)
    fsm = np.array([np.nan if s.pct_fsm is None else s.pct_fsm for s in problem.schools], dtype=np.float64)
    terms = np.column_stack([1.0 - _row_mean(marks.reshape(len(fsm), -1)) / 100.0, np.minimum(fsm / 40.0, 1.0)])
    need = _row_mean(terms)
    return np.where(np.isnan(need), 0.5, need)


def _row_mean(values: np.ndarray) -> np.ndarray:
    """Mean of each row over its non-NaN entries; NaN where a row has none (without numpy's empty-slice warning)."""
    present = ~np.isnan(values)
    count = present.sum(axis=1)
    total = np.where(present, values, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(len(count), np.nan), where=count > 0)


def sector_fit(problem: Problem, graph: CandidateGraph) -> np.ndarray:
    """Best fit in [0, 1] between each candidate's partner sectors and its school's wanted sectors.

    ``wanted`` is a small school x sector table; each partner's sectors are a padded row of column numbers (the
    padding points at an all-zero column), so the fit is a max over a few gathers of the candidate arrays.
    """
    vocab = sorted(
        {x for s in problem.schools for x in s.sectors}
        | set(problem.hub.priority_sectors)
        | {x for ps in graph.partners.sectors for x in ps}
    )
    col = {name: k for k, name in enumerate(vocab)}
    wanted = np.zeros((len(problem.schools), len(vocab) + 1))  # the last column stays 0: the padding
    for name, weight in problem.hub.priority_sectors.items():
        wanted[:, col[name]] = weight
    for i, s in enumerate(problem.schools):
        wanted[i, [col[x] for x in s.sectors]] = 1.0
    widest = max((len(ps) for ps in graph.partners.sectors), default=0)
    offers = np.full((graph.partners.size, widest), len(vocab), dtype=np.int64)
    for j, sectors in enumerate(graph.partners.sectors):
        offers[j, : len(sectors)] = [col[x] for x in sectors]
    fit = np.zeros(graph.size)
    for k in range(widest):
        np.maximum(fit, wanted[graph.school, offers[graph.partner, k]], out=fit)
    return fit


def _is_current(problem: Problem, graph: CandidateGraph) -> np.ndarray:
    """1.0 where the candidate is the school's current pairing in this role (from last term or a previous solve)."""
    at = {pid: j for j, pid in enumerate(graph.partners.ids)}
    n = graph.partners.size
    if graph.role == "adviser":
        current = [list(s.current_advisers) for s in problem.schools]  # every one: a school may have two
    else:
        current = [list(s.current_cornerstones) for s in problem.schools]
    keys = [i * n + at[c] for i, cs in enumerate(current) for c in cs if c in at]
    flags = np.zeros(graph.size)
    flags[positions_of(graph.school * n + graph.partner, keys)] = 1.0  # candidates are sorted by (school, partner)
    return flags
