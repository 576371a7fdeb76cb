"""Walks over a flow's residual network: whether a maximum flow covers the most need it can (the exchange test
of a matroid basis), and whether a flow can carry more (an augmenting path).

Where every school has one open slot, the sets of schools that one flow can cover together are the independent
sets of a matroid, and the schools a maximum flow covers are a basis. A basis has the most need exactly when no
single exchange gains: no uncovered school reaches, in the flow's residual network (never through the source), a
covered school less needy than itself, whose place it could then take. So the flow solver may try a small need
unit, which cost scaling handles far faster than the proven one, and keep the flow when this test passes.
"""

from __future__ import annotations

import numpy as np

from matcher.residual import ranges


def meets_the_most_need(
    tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, flows: np.ndarray, n_pairs: int, n_nodes: int,
    open_slots: np.ndarray, need: np.ndarray,
) -> bool:
    """The exchange test on a flow of the sourced network (``matcher.solvers.flow.sourced_core``: its pair arcs
    first, sorted by school, and its source arcs last, one per school, for schools ``0..n_s-1``).

    Every node gets the largest need of an uncovered school that reaches it (``_spread``: through at most the
    eleven need levels).
    """
    n_s = len(open_slots)
    covered = flows[len(tails) - n_s :] > 0
    uncovered = np.flatnonzero((open_slots > 0) & ~covered)
    if not uncovered.size or not covered.any() or need[uncovered].max() <= need[covered].min():
        return True
    label = _spread(tails, heads, caps, flows, n_pairs, n_nodes, n_s, uncovered, need[uncovered])
    return not np.any(covered & (label[:n_s] > need))


def augmentable(
    tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, flows: np.ndarray, n_pairs: int, n_nodes: int,
    n_s: int, sink: int,
) -> bool:
    """Whether a flow of the sourced network (as for ``meets_the_most_need``) is short of a maximum one: whether
    the sink is reached, in its residual network, from a school whose source arc has room. A flow is a maximum
    one exactly when no augmenting path exists (Ford and Fulkerson), so one walk decides it where a priced maximum
    flow took a dozen solves of ten million arcs at 20,000 schools."""
    source_arcs = np.arange(len(tails) - n_s, len(tails))
    start = heads[source_arcs[flows[source_arcs] < caps[source_arcs]]]
    label = _spread(tails, heads, caps, flows, n_pairs, n_nodes, n_s, start, np.zeros(len(start)), stop=sink)
    return bool(label[sink] >= 0)


def _spread(
    tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, flows: np.ndarray, n_pairs: int, n_nodes: int,
    n_s: int, start: np.ndarray, start_labels: np.ndarray, stop: int | None = None,
) -> np.ndarray:
    """Each node's largest label of a start node that reaches it in the flow's residual network, never through
    the source (-1 where none does), by label-correcting passes from the start nodes: a label only rises, so with
    few distinct labels few passes. The pair arcs are read from each school's run, so only what the start nodes
    reach is ever looked at; with ``stop``, the passes end as soon as that node is reached."""
    label = np.full(n_nodes, -1, dtype=np.int64)
    label[start] = start_labels
    pair_runs = np.searchsorted(tails[:n_pairs], np.arange(n_s + 1))
    starts, ends, to = _other_arcs(tails, heads, caps, flows, n_pairs, n_nodes, n_s)
    frontier = np.unique(start)
    while frontier.size and (stop is None or label[stop] < 0):
        schools = frontier[frontier < n_s]
        at = ranges(pair_runs[schools], pair_runs[schools + 1])
        from_label = np.repeat(label[schools], pair_runs[schools + 1] - pair_runs[schools])
        open_arc = flows[at] < caps[at]  # a pair arc with room leads from its school to its partner
        more = ranges(starts[frontier], ends[frontier])
        nodes = np.concatenate([heads[at[open_arc]], to[more]])
        labels = np.concatenate([from_label[open_arc], np.repeat(label[frontier], ends[frontier] - starts[frontier])])
        rises = labels > label[nodes]
        nodes, labels = nodes[rises], labels[rises]
        np.maximum.at(label, nodes, labels)
        frontier = np.unique(nodes)
    return label


def _other_arcs(
    tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, flows: np.ndarray, n_pairs: int, n_nodes: int, n_s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every residual arc but the pair arcs forward and the source arcs, grouped by tail: each node's run
    (``starts``, ``ends``) in ``to``. These are few: the pairs the flow uses, backward, and the partner, company
    and sink arcs either way."""
    inner = np.arange(n_pairs, len(tails) - n_s)
    forward = inner[caps[inner] > flows[inner]]
    backward = np.flatnonzero(flows[: len(tails) - n_s] > 0)
    frm = np.concatenate([tails[forward], heads[backward]])
    to = np.concatenate([heads[forward], tails[backward]])
    order = np.argsort(frm, kind="stable")
    frm, to = frm[order], to[order]
    bounds = np.searchsorted(frm, np.arange(n_nodes + 1))
    return bounds[:-1], bounds[1:], to
