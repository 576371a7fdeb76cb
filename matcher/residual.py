"""The residual network of a flow, as arc arrays, with exact integer shortest paths over it.

Arc ``2i`` is arc ``i`` of the network forward (room: capacity minus flow, its cost), arc ``2i + 1`` the same arc
backward (room: the flow, minus its cost), so the mate of a residual arc is ``k ^ 1``. The index of the arcs out of
each node holds only the arcs with room when it is built (a pair arc has room one way only: half the arcs), and
``extra`` the few that gain room as paths are augmented, so a pass reads no dead arc. Costs are the lexicographic
objective's exact integers (coverage values in cost units, up to ~1e16), which floating-point shortest paths
would round: the paths here are label-correcting Bellman-Ford rounds in int64, each round relaxing, in one numpy
pass, only the arcs out of the nodes whose distance fell in the round before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

UNREACHED = np.iinfo(np.int64).max // 4


class NegativeCycle(Exception):
    """The residual network has a cycle of negative cost: the flow it came from is not a cheapest one."""


@dataclass(frozen=True)
class _Index:
    """Arcs grouped by one end node (CSR): each node's first position (``starts``), and per position the arc, its
    other end and its cost, stored in that order so that a pass reads them as runs rather than scattered."""

    starts: np.ndarray
    arcs: np.ndarray
    other: np.ndarray
    cost: np.ndarray


@dataclass
class Residual:
    """The network's arcs (``tails``, ``heads``, ``costs``), each residual arc's ``room``, the arcs with room when
    it was built by tail (``out``) and by head (``into``, built on first use), and the arcs that gained room since
    (``extra``). A residual arc's ends and cost are read from the network arcs, never stored twice."""

    n_nodes: int
    tails: np.ndarray
    heads: np.ndarray
    costs: np.ndarray
    room: np.ndarray
    out: _Index
    extra: np.ndarray
    into: _Index | None = None

    @classmethod
    def of(
        cls, n_nodes: int, tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray, flow: np.ndarray
    ) -> Residual:
        """The residual network of ``flow`` over the arcs (tails, heads, caps, costs)."""
        tails, heads = np.asarray(tails, dtype=np.int64), np.asarray(heads, dtype=np.int64)
        costs = np.asarray(costs, dtype=np.int64)
        room = np.empty(2 * len(tails), dtype=np.int64)
        room[0::2], room[1::2] = np.asarray(caps, dtype=np.int64) - flow, flow
        forward, backward = np.flatnonzero(room[0::2] > 0), np.flatnonzero(flow > 0)
        out = _index(
            np.concatenate([tails[forward], heads[backward]]),
            np.concatenate([heads[forward], tails[backward]]),
            np.concatenate([costs[forward], -costs[backward]]),
            np.concatenate([2 * forward, 2 * backward + 1]),
            n_nodes,
        )
        return cls(n_nodes, tails, heads, costs, room, out, np.zeros(0, dtype=np.int64))

    def tail(self, arcs: np.ndarray) -> np.ndarray:
        return np.where(arcs & 1, self.heads[arcs >> 1], self.tails[arcs >> 1])

    def head(self, arcs: np.ndarray) -> np.ndarray:
        return np.where(arcs & 1, self.tails[arcs >> 1], self.heads[arcs >> 1])

    def cost(self, arcs: np.ndarray) -> np.ndarray:
        return np.where(arcs & 1, -self.costs[arcs >> 1], self.costs[arcs >> 1])

    def copy(self) -> Residual:
        """A residual network to augment apart (the arc structure is shared; only the rooms are copied)."""
        return dataclasses.replace(self, room=self.room.copy(), extra=self.extra.copy())

    def flow(self, arcs: int) -> np.ndarray:
        """The flow on the first ``arcs`` network arcs (their backward room)."""
        return self.room[1 : 2 * arcs : 2]

    def push(self, path: np.ndarray) -> None:
        """Send one unit along the residual arcs of ``path``."""
        self.room[path] -= 1
        self.room[path ^ 1] += 1
        self.extra = np.concatenate([self.extra, path ^ 1])

    def shortest(self, source: int, blocked: np.ndarray, towards: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Cheapest distances from ``source`` over arcs with room, except the ``blocked`` arc positions (or, with
        ``towards``, to ``source`` from every node), and the last arc of each cheapest path.

        Raises NegativeCycle when distances still fall after ``n_nodes`` rounds.
        """
        usable = self.room > 0
        usable[blocked] = False
        if towards and self.into is None:
            arcs = self.out.arcs
            self.into = _index(self.head(arcs), self.tail(arcs), self.cost(arcs), arcs, self.n_nodes)
        index = self.into if towards else self.out
        assert index is not None
        near, far = (self.head, self.tail) if towards else (self.tail, self.head)
        extra, extra_near = self.extra, near(self.extra)
        extra_far, extra_cost = far(self.extra), self.cost(self.extra)
        dist = np.full(self.n_nodes, UNREACHED, dtype=np.int64)
        pred = np.full(self.n_nodes, -1, dtype=np.int64)
        dist[source] = 0
        frontier = np.array([source], dtype=np.int64)
        in_frontier = np.zeros(self.n_nodes, dtype=bool)
        for _ in range(self.n_nodes + 1):
            lo, hi = index.starts[frontier], index.starts[frontier + 1]
            at = ranges(lo, hi)
            arcs, nodes = index.arcs[at], index.other[at]
            reached = np.repeat(dist[frontier], hi - lo) + index.cost[at]
            if len(extra):
                in_frontier[frontier] = True
                more = in_frontier[extra_near]
                in_frontier[frontier] = False
                arcs, nodes = np.concatenate([arcs, extra[more]]), np.concatenate([nodes, extra_far[more]])
                reached = np.concatenate([reached, dist[extra_near[more]] + extra_cost[more]])
            better = (reached < dist[nodes]) & usable[arcs]
            if not better.any():
                return dist, pred
            arcs, reached, nodes = arcs[better], reached[better], nodes[better]
            np.minimum.at(dist, nodes, reached)
            won = reached == dist[nodes]
            pred[nodes[won]] = arcs[won]
            frontier = np.unique(nodes[won])
        raise NegativeCycle("the residual network has a negative cycle")

    def path(self, pred: np.ndarray, source: int, target: int, towards: bool = False) -> np.ndarray:
        """The residual arcs of the cheapest path from ``source`` to ``target`` (with ``towards``: ``pred`` came
        from distances to ``target`` = the ``source`` of ``shortest``, and the path runs from ``source``)."""
        arcs: list[int] = []
        node = source if towards else target
        stop = target if towards else source
        step = self.head if towards else self.tail
        while node != stop:
            arc = int(pred[node])
            if arc < 0 or len(arcs) > self.n_nodes:
                raise NegativeCycle("no cheapest path: the predecessor arcs do not lead back to the source")
            arcs.append(arc)
            node = int(step(np.array([arc]))[0])
        return np.array(arcs if towards else arcs[::-1], dtype=np.int64)


def _index(key: np.ndarray, other: np.ndarray, cost: np.ndarray, arcs: np.ndarray, n_nodes: int) -> _Index:
    """The ``arcs`` grouped by their ``key`` node (a radix sort of 16-bit node numbers where they fit)."""
    order = np.argsort(key.astype(np.uint16) if n_nodes < 2**16 else key, kind="stable")
    starts = np.searchsorted(key[order], np.arange(n_nodes + 1))
    return _Index(starts, arcs[order], other[order], cost[order])


def ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``lo[i]:hi[i]`` as one index array."""
    counts = hi - lo
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
