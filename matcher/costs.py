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
``units`` (thousandths), so that flow, CP-SAT and MIP optimise exactly the same numbers. Only the units (and each
school's need) are held for every candidate; the named components are computed again for the few rows a reader
asks about (``Costs.of``: the chosen pairs and their alternatives), by the same arithmetic, so they add up to the
units exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from matcher.candidates import CandidateGraph, PairRows
from models.domain import Problem, Weights

SCALE = 1000
COMPONENTS = ("distance", "sector", "need", "continuity", "given")
BATCH = 1 << 15  # candidates costed at once: the components of a batch stay in the CPU cache

Rows = slice | np.ndarray


class Components(Protocol):
    """Computes the weighted components (one column per name in COMPONENTS) of the given candidate rows."""

    def __call__(self, rows: Rows) -> np.ndarray: ...


@dataclass(frozen=True)
class Costs:
    """Every candidate's integer cost ``units`` and each school's ``need``, and the named components of any rows
    on request (``components``)."""

    units: np.ndarray
    need: np.ndarray
    components: Components

    def of(self, rows: np.ndarray) -> list[dict[str, float]]:
        """The non-zero components of each of the given candidates, by name."""
        return [
            {name: v for name, v in zip(COMPONENTS, row, strict=True) if v != 0.0}
            for row in self.components(np.asarray(rows, dtype=np.int64)).tolist()
        ]

    def joined(self, other: Costs, order: np.ndarray) -> Costs:
        """These candidates followed by ``other``'s, then taken in ``order`` (the need stays this one's)."""
        units = np.concatenate([self.units, other.units])[order]
        return Costs(units, self.need, _Joined(self.components, other.components, len(self.units), order))


@dataclass(frozen=True)
class _Joined:
    """The components of two sets of candidates joined and reordered: each row is looked up where it came from."""

    first: Components
    second: Components
    n_first: int
    order: np.ndarray

    def __call__(self, rows: Rows) -> np.ndarray:
        origin = self.order[rows]
        mine = origin < self.n_first
        out = np.empty((len(origin), len(COMPONENTS)))
        out[mine] = self.first(origin[mine])
        out[~mine] = self.second(origin[~mine] - self.n_first)
        return out


@dataclass(frozen=True)
class _Scored:
    """The components of a graph's candidates under a policy: small per-school and per-partner tables, gathered
    for the rows asked."""

    graph: CandidateGraph
    weights: Weights
    need_term: np.ndarray
    sectors: SectorFit
    current: np.ndarray

    def __call__(self, rows: Rows) -> np.ndarray:
        g, w = self.graph, self.weights
        school, partner = g.school[rows], g.partner[rows]
        comps = np.zeros((len(school), len(COMPONENTS)))
        comps[:, 0] = w.distance * g.distance_km[rows] / g.partners.radius_km[partner]
        comps[:, 1] = self.sectors.term(school, partner)
        comps[:, 2] = self.need_term[school]
        comps[:, 3] = -w.continuity * _marked(self.current, rows, len(school))
        given_cost = g.given_cost[rows]
        given = ~np.isnan(given_cost)
        comps[given, :4] = 0.0
        comps[given, 4] = given_cost[given]
        return comps

    def units(self, rows: slice) -> np.ndarray:
        """The integer units of a run of rows: the components added in column order (as ``ndarray.sum`` adds a
        row; adding the continuity where it is zero changes nothing), rounded to thousandths; a pair imported
        with a cost is that cost alone."""
        g, w = self.graph, self.weights
        school, partner = g.school[rows].astype(np.intp), g.partner[rows].astype(np.intp)  # take() wants intp
        total = w.distance * g.distance_km[rows] / np.take(g.partners.radius_km, partner)
        total += self.sectors.term(school, partner)
        total += np.take(self.need_term, school)
        lo, hi = np.searchsorted(self.current, [rows.start, rows.start + len(total)])
        total[self.current[lo:hi] - rows.start] += -w.continuity * 1.0
        if g.given_cost.strides != (0,):  # else one NaN broadcast: no pair was imported with a cost
            given_cost = g.given_cost[rows]
            total = np.where(np.isnan(given_cost), total, given_cost)
        total *= SCALE
        return np.rint(total, out=total).astype(np.int64)


def score(problem: Problem, graph: CandidateGraph) -> Costs:
    """Cost every candidate of ``graph`` under the problem's policy weights, batch by batch."""
    need = school_need(problem, graph.role)
    w = problem.policy.weights
    sectors = SectorFit(problem, graph, w.sector)
    scored = _Scored(graph, w, w.need * (1.0 - need), sectors, _current_rows(problem, graph))
    units = np.empty(graph.size, dtype=np.int64)
    for lo in range(0, graph.size, BATCH):
        units[lo : lo + BATCH] = scored.units(slice(lo, lo + BATCH))
    return Costs(units=units, need=need, components=scored)


def _marked(rows_marked: np.ndarray, rows: Rows, n: int) -> np.ndarray:
    """1.0 at the rows (a run or an array of rows) that are among the sorted ``rows_marked``, else 0.0."""
    flags = np.zeros(n)
    if isinstance(rows, slice):
        lo, hi = np.searchsorted(rows_marked, [rows.start, rows.start + n])
        flags[rows_marked[lo:hi] - rows.start] = 1.0
    elif len(rows_marked):
        at = np.minimum(np.searchsorted(rows_marked, rows), len(rows_marked) - 1)
        flags[rows_marked[at] == rows] = 1.0
    return flags


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


class SectorFit:
    """Best fit in [0, 1] between a candidate's partner sectors and its school's wanted sectors, and the weighted
    sector component ``weight * (1 - fit)``.

    ``wanted`` is a small school x sector table (a school's own sectors count 1, the hub's priority sectors their
    weight). Partners offering the same set of sectors share a column of ``table``, the best fit of each school
    with each such set, so a candidate's fit is one gather; with too many distinct sets for that table, each
    partner's sectors are a padded row of column numbers (the padding points at an all-zero column) and the fit
    is a max over a few gathers.
    """

    def __init__(self, problem: Problem, graph: CandidateGraph, weight: float = 1.0) -> None:
        partners = graph.partners
        vocab = sorted(
            {x for s in problem.schools for x in s.sectors}
            | set(problem.hub.priority_sectors)
            | {x for ps in partners.sectors for x in ps}
        )
        col = {name: k for k, name in enumerate(vocab)}
        wanted = np.zeros((len(problem.schools), len(vocab) + 1))  # the last column stays 0: the padding
        for name, weight_of in problem.hub.priority_sectors.items():
            wanted[:, col[name]] = weight_of
        per_school = np.array([len(s.sectors) for s in problem.schools], dtype=np.int64)
        own = np.array([col[x] for s in problem.schools for x in s.sectors], dtype=np.int64)
        wanted[np.repeat(np.arange(len(per_school)), per_school), own] = 1.0
        widest = max((len(ps) for ps in partners.sectors), default=0)
        offers = np.full((partners.size, widest), len(vocab), dtype=np.int64)
        per_partner = np.array([len(ps) for ps in partners.sectors], dtype=np.int64)
        offered = np.array([c for ps in partners.sectors for c in sorted(col[x] for x in ps)], dtype=np.int64)
        place = np.arange(len(offered)) - np.repeat(np.cumsum(per_partner) - per_partner, per_partner)
        offers[np.repeat(np.arange(partners.size), per_partner), place] = offered
        sets, set_of = np.unique(offers, axis=0, return_inverse=True)
        self.weight, self.wanted, self.offers, self.set_of = weight, wanted, offers, set_of.reshape(-1)
        self.table: np.ndarray | None = None  # the sector component of each school with each set of sectors
        if len(problem.schools) * len(sets) <= max(graph.size, 1 << 20):
            fit = np.zeros((len(problem.schools), len(sets)))
            for k in range(widest):
                np.maximum(fit, wanted[:, sets[:, k]], out=fit)
            self.table = weight * (1.0 - fit)

    def fit(self, school: np.ndarray, partner: np.ndarray) -> np.ndarray:
        """The fit of each candidate (school, partner)."""
        fit = np.zeros(len(school))
        for k in range(self.offers.shape[1]):
            np.maximum(fit, self.wanted[school, self.offers[partner, k]], out=fit)
        return fit

    def term(self, school: np.ndarray, partner: np.ndarray) -> np.ndarray:
        """The weighted sector component of each candidate (school, partner)."""
        if self.table is not None:
            return np.take(self.table.reshape(-1), school * self.table.shape[1] + np.take(self.set_of, partner))
        return self.weight * (1.0 - self.fit(school, partner))


def sector_fit(problem: Problem, graph: CandidateGraph) -> np.ndarray:
    """Best fit in [0, 1] between each candidate's partner sectors and its school's wanted sectors."""
    return SectorFit(problem, graph).fit(graph.school, graph.partner)


def _current_rows(problem: Problem, graph: CandidateGraph) -> np.ndarray:
    """Sorted rows of the candidates that are their school's current pairing in this role (from last term or a
    previous solve; every one: a school may have two)."""
    at = {pid: j for j, pid in enumerate(graph.partners.ids)}
    if graph.role == "adviser":
        current = [s.current_advisers for s in problem.schools]
    else:
        current = [s.current_cornerstones for s in problem.schools]
    pairs = np.array([(i, at[c]) for i, cs in enumerate(current) for c in cs if c in at], dtype=np.int64)
    if not len(pairs):
        return np.zeros(0, dtype=np.int64)
    return np.sort(PairRows(graph.school, graph.partner, graph.n_schools).find(pairs[:, 0], pairs[:, 1]))
