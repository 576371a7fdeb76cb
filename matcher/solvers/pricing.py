"""Flows over a subset of the pair arcs, grown until a certificate shows that the left-out arcs cannot help.

A national round has hundreds of candidates per school, and most can never be part of a cheapest flow. Each
solve here runs on the pair arcs chosen so far (``PricedArcs.chosen``) plus every other arc, then checks the
left-out pair arcs against the solve's own certificate, adds those that fail and solves again:
- a maximum flow is certified by its minimum cut: when no left-out arc leaves the source side for the sink side,
  the cut's capacity in the whole network equals the flow, so no flow through any arc is larger;
- a cheapest flow is certified by node potentials: when no left-out arc has a negative reduced cost, the flow and
  the potentials meet the optimality conditions of the whole network's linear programme.
The answers are therefore those of the whole network, exactly (tests compare them on random rounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from matcher.residual import Residual, ranges

PRICING = ("off", "all")


@dataclass
class PricedArcs:
    """A network whose first ``n_pairs`` arcs (capacity one each) may be left out: ``chosen`` marks those in."""

    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    n_nodes: int
    n_pairs: int
    chosen: np.ndarray
    rounds: int = 0

    def _arcs(self) -> np.ndarray:
        return np.concatenate([np.flatnonzero(self.chosen), np.arange(self.n_pairs, len(self.tails))])

    def _add(self, violators: np.ndarray) -> bool:
        """Take in the left-out pair arcs (positions) that fail the certificate; False when there are none."""
        self.rounds += 1
        if not violators.size:
            return False
        self.chosen[violators] = True
        return True

    @cached_property
    def _pairs_by_tail(self) -> tuple[np.ndarray | None, np.ndarray]:
        """Each node's run of pair arcs (from ``starts[v]`` to ``starts[v + 1]``), and the order that sorts the pair
        arcs by tail, None when they already are (the flow solver's are sorted by school)."""
        tails = self.tails[: self.n_pairs]
        order = None if np.all(tails[1:] >= tails[:-1]) else np.argsort(tails, kind="stable")
        starts = np.searchsorted(tails if order is None else tails[order], np.arange(self.n_nodes + 1))
        return order, starts

    def _leaving(self, nodes: np.ndarray) -> np.ndarray:
        """The pair arcs out of these nodes: near a maximum flow the source side of its cut is small, so the
        certificate reads a few schools' candidates rather than every pair arc of the network."""
        order, starts = self._pairs_by_tail
        at = ranges(starts[nodes], starts[nodes + 1])
        return at if order is None else order[at]

    def max_flow(self, source: int, sink: int, caps: np.ndarray | None = None) -> tuple[int, np.ndarray]:
        """The maximum flow value from ``source`` to ``sink`` and a flow of that value on every arc."""
        caps = self.caps if caps is None else caps
        while True:
            arcs = self._arcs()
            flow = max_flow.SimpleMaxFlow()
            flow.add_arcs_with_capacity(self.tails[arcs], self.heads[arcs], caps[arcs])
            if flow.solve(source, sink) != flow.OPTIMAL:
                raise RuntimeError("maximum flow did not solve")
            source_side = np.asarray(flow.get_source_side_min_cut(), dtype=np.int64)
            side = np.zeros(self.n_nodes, dtype=bool)
            side[source_side] = True
            out = self._leaving(source_side)
            crossing = out[~side[self.heads[out]] & (caps[out] > 0) & ~self.chosen[out]]
            if not self._add(crossing):
                flows = np.zeros(len(self.tails), dtype=np.int64)
                flows[arcs] = flow.flows(np.arange(len(arcs), dtype=np.int32))
                return int(flow.optimal_flow()), flows

    def min_cost_flow(self, costs: np.ndarray, supplies: np.ndarray) -> np.ndarray:
        """A cheapest flow meeting ``supplies`` (which the chosen arcs must already be able to carry)."""
        while True:
            arcs = self._arcs()
            flow = min_cost_flow.SimpleMinCostFlow()
            flow.add_arcs_with_capacity_and_unit_cost(self.tails[arcs], self.heads[arcs], self.caps[arcs], costs[arcs])
            flow.set_nodes_supplies(np.arange(self.n_nodes, dtype=np.int32), supplies)
            status = flow.solve()
            if status != flow.OPTIMAL:
                raise FlowFailed(status)
            flows = np.zeros(len(self.tails), dtype=np.int64)
            flows[arcs] = flow.flows(np.arange(len(arcs), dtype=np.int32))
            dist = _potentials(
                self.n_nodes, self.tails[arcs], self.heads[arcs], self.caps[arcs], costs[arcs], flows[arcs]
            )
            pairs = slice(0, self.n_pairs)
            reduced = costs[pairs] + dist[self.tails[pairs]] - dist[self.heads[pairs]]
            if not self._add(np.flatnonzero((reduced < 0) & ~self.chosen)):
                return flows


def _potentials(
    n_nodes: int, tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray, flows: np.ndarray
) -> np.ndarray:
    """Node potentials of a cheapest flow: shortest distances over its residual network from a root joined to
    every node at no cost, so that every residual arc's reduced cost is at least zero."""
    root = np.full(n_nodes, n_nodes)
    residual = Residual.of(
        n_nodes + 1,
        np.concatenate([tails, root]),
        np.concatenate([heads, np.arange(n_nodes)]),
        np.concatenate([caps, np.ones(n_nodes, dtype=np.int64)]),
        np.concatenate([costs, np.zeros(n_nodes, dtype=np.int64)]),
        np.concatenate([flows, np.zeros(n_nodes, dtype=np.int64)]),
    )
    dist, _ = residual.shortest(n_nodes, np.zeros(0, dtype=np.int64))
    return dist[:n_nodes]


def cheapest_pairs(order_by_school: np.ndarray, school: np.ndarray, partner: np.ndarray, units: np.ndarray,
                   n_schools: int, n_partners: int, k: int) -> np.ndarray:
    """A mask of the ``k`` cheapest candidates of every school and of every partner: where a priced flow starts."""
    chosen = np.zeros(len(school), dtype=bool)
    chosen[_first_k(order_by_school, school, n_schools, k)] = True
    by_partner = np.argsort(units, kind="stable")
    by_partner = by_partner[np.argsort(partner[by_partner], kind="stable")]
    chosen[_first_k(by_partner, partner, n_partners, k)] = True
    return chosen


def _first_k(order: np.ndarray, key: np.ndarray, n: int, k: int) -> np.ndarray:
    """The first ``k`` positions of each key's run in ``order`` (which sorts by ``key``)."""
    counts = np.bincount(key, minlength=n)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    return order[rank < k]


class NetworkSolver:
    """The flow solves of ``matcher.solvers.flow`` over one network whose first ``n_pairs`` arcs are pair arcs:
    on every arc (``pricing="off"``) or every solve priced (``"all"``). ``chosen`` is where pricing starts, shared
    by the networks of one solve so that what one learnt the next starts from. Flows come back for every arc of the
    network, pair arcs first."""

    def __init__(self, tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, n_nodes: int, n_pairs: int,
                 pricing: str, chosen: np.ndarray) -> None:
        if pricing not in PRICING:
            raise ValueError(f"Unknown pricing {pricing!r}; choose one of {', '.join(PRICING)}.")
        self.tails, self.heads, self.caps, self.n_nodes, self.pricing = tails, heads, caps, n_nodes, pricing
        self.n_pairs, self.chosen = n_pairs, chosen
        self._value: int | None = None

    @cached_property
    def priced(self) -> PricedArcs:
        return PricedArcs(self.tails, self.heads, self.caps, self.n_nodes, self.n_pairs, self.chosen)

    def max_flow(self, source: int, sink: int, caps: np.ndarray) -> int:
        """The maximum flow value with these capacities."""
        if self.pricing == "off":
            flow = max_flow.SimpleMaxFlow()
            flow.add_arcs_with_capacity(self.tails, self.heads, caps)
            if flow.solve(source, sink) != flow.OPTIMAL:
                raise RuntimeError("maximum flow did not solve")
            return int(flow.optimal_flow())
        return self.priced.max_flow(source, sink, caps)[0]

    def fill_all(self, costs: np.ndarray, source: int, sink: int, total: int) -> np.ndarray | None:
        """A cheapest flow of ``total`` from ``source`` to ``sink``, or None when no flow carries that much."""
        if self.pricing == "all":
            if self._most(source, sink) < total:
                return None
            return self.priced.min_cost_flow(costs, self._supplies(source, sink, total))
        # on every arc, OR-Tools' own feasibility check (a maximum flow before cost scaling) settles it
        flow = self._full(costs, source, sink, total)
        status = flow.solve()
        if status == flow.INFEASIBLE:
            return None
        return self._flows(flow, status)

    def max_flow_min_cost(self, costs: np.ndarray, source: int, sink: int, total: int) -> tuple[np.ndarray, int]:
        """A cheapest among the maximum flows from ``source`` to ``sink`` (at most ``total``), and its value."""
        if self.pricing == "all":
            value = self._most(source, sink)
            return self.priced.min_cost_flow(costs, self._supplies(source, sink, value)), value
        flow = self._full(costs, source, sink, total)
        flows = self._flows(flow, flow.solve_max_flow_with_min_cost())
        return flows, int(flow.maximum_flow())

    def min_cost(self, costs: np.ndarray, supplies: np.ndarray) -> np.ndarray:
        """A cheapest flow meeting ``supplies``."""
        if self.pricing == "all":
            return self.priced.min_cost_flow(costs, supplies)
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, self.caps, costs)
        flow.set_nodes_supplies(np.arange(self.n_nodes, dtype=np.int32), supplies)
        return self._flows(flow, flow.solve())

    def _most(self, source: int, sink: int) -> int:
        """The maximum flow value from ``source`` to ``sink`` with the network's capacities, found once."""
        if self._value is None:
            self._value = self.priced.max_flow(source, sink)[0]
        return self._value

    def _supplies(self, source: int, sink: int, total: int) -> np.ndarray:
        supplies = np.zeros(self.n_nodes, dtype=np.int64)
        supplies[source], supplies[sink] = total, -total
        return supplies

    def _full(self, costs: np.ndarray, source: int, sink: int, total: int) -> min_cost_flow.SimpleMinCostFlow:
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, self.caps, costs)
        flow.set_node_supply(source, total)
        flow.set_node_supply(sink, -total)
        return flow

    def _flows(self, flow: min_cost_flow.SimpleMinCostFlow, status: object) -> np.ndarray:
        if status != flow.OPTIMAL:
            raise FlowFailed(status)
        return flow.flows(np.arange(len(self.tails), dtype=np.int32))


class FlowFailed(RuntimeError):
    """A min-cost flow ended without an optimum (``status``): the caller names the role and the suspect."""

    def __init__(self, status: object) -> None:
        super().__init__(f"min-cost flow ended with status {status!r}")
        self.status = status
