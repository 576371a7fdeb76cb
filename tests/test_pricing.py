"""Priced flows give exactly the whole network's answer: maximum flows certified by their minimum cut, cheapest
flows by their node potentials, on random networks, random rounds and rounds built so that the optimum needs a
candidate far down every list a priced solve starts from."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import adviser, document, east, random_document, school
from ortools.graph.python import max_flow, min_cost_flow

import fixtures
from matcher.solve import role_input
from matcher.solvers import SolverUnsuitable
from matcher.solvers import flow as flow_solver
from matcher.solvers.pricing import PricedArcs
from models import load_problem
from models.domain import ROLES

MODES = ("all",)


def random_network(seed: int) -> tuple[np.ndarray, ...]:
    """A source (node 0), 12 left and 10 right nodes and a sink (node 23): pair arcs left -> right (capacity 1,
    costs from -5 to 20) first, then source and sink arcs with random capacities and costs."""
    rng = np.random.default_rng(seed)
    left, right = np.arange(1, 13), np.arange(13, 23)
    pairs = np.array([(a, b) for a in left for b in right if rng.random() < 0.5], dtype=np.int64).reshape(-1, 2)
    tails = np.r_[pairs[:, 0], np.zeros(12, dtype=np.int64), right]
    heads = np.r_[pairs[:, 1], left, np.full(10, 23)]
    caps = np.r_[np.ones(len(pairs), dtype=np.int64), rng.integers(0, 3, 12), rng.integers(0, 3, 10)]
    costs = np.r_[rng.integers(-5, 21, len(pairs)), rng.integers(-3, 4, 12), rng.integers(-3, 4, 10)]
    return tails, heads, caps, costs, len(pairs)


def full_max_flow(tails: np.ndarray, heads: np.ndarray, caps: np.ndarray) -> int:
    flow = max_flow.SimpleMaxFlow()
    flow.add_arcs_with_capacity(tails, heads, caps)
    assert flow.solve(0, 23) == flow.OPTIMAL
    return int(flow.optimal_flow())


def full_min_cost(tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray, value: int) -> int:
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_node_supply(0, value)
    flow.set_node_supply(23, -value)
    assert flow.solve() == flow.OPTIMAL
    return int(flow.optimal_cost())


@pytest.mark.parametrize("seed", range(60))
def test_priced_maximum_and_cheapest_flows_equal_the_whole_network(seed: int) -> None:
    tails, heads, caps, costs, n_pairs = random_network(seed)
    start = np.random.default_rng(seed + 1000).random(n_pairs) < 0.1  # a few pair arcs in at first
    priced = PricedArcs(tails, heads, caps, 24, n_pairs, start.copy())
    value, flows = priced.max_flow(0, 23)
    assert value == full_max_flow(tails, heads, caps)
    assert flows[heads == 23].sum() == value and np.all((flows >= 0) & (flows <= caps))
    supplies = np.zeros(24, dtype=np.int64)
    supplies[0], supplies[23] = value, -value
    cheapest = priced.min_cost_flow(costs, supplies)
    assert int(cheapest @ costs) == full_min_cost(tails, heads, caps, costs, value)
    inflow = np.bincount(heads, weights=cheapest, minlength=24) - np.bincount(tails, weights=cheapest, minlength=24)
    assert np.array_equal(inflow, -supplies) and np.all((cheapest >= 0) & (cheapest <= caps))


@pytest.mark.parametrize("seed", range(30))
def test_a_maximum_flow_is_priced_exactly_whatever_the_order_of_its_pair_arcs(seed: int) -> None:
    """The cut's certificate reads the pair arcs out of the source side by tail: shuffled out of tail order, the
    priced maximum flow still equals the whole network's."""
    tails, heads, caps, _, n_pairs = random_network(seed)
    shuffle = np.random.default_rng(seed).permutation(n_pairs)
    tails[:n_pairs], heads[:n_pairs] = tails[shuffle], heads[shuffle]
    assert np.any(np.diff(tails[:n_pairs]) < 0)
    priced = PricedArcs(tails, heads, caps, 24, n_pairs, np.zeros(n_pairs, dtype=bool))
    assert priced.max_flow(0, 23)[0] == full_max_flow(tails, heads, caps)
    assert priced.rounds > 1


def test_pricing_starts_small_and_adds_only_what_its_certificates_ask_for() -> None:
    """On the random networks together, pricing needs more than one solve somewhere and never takes in every arc:
    the tests above would pass trivially if it did."""
    grew = partial = 0
    for seed in range(60):
        tails, heads, caps, _, n_pairs = random_network(seed)
        priced = PricedArcs(tails, heads, caps, 24, n_pairs, np.zeros(n_pairs, dtype=bool))
        priced.max_flow(0, 23)
        grew += priced.rounds > 1
        partial += not priced.chosen.all()
    assert grew > 30 and partial > 30


def outcome(inp, pricing: str) -> tuple:
    """What the lexicographic objective ranks: coverage, partners engaged, cost; and the status."""
    res = flow_solver.solve_flow(inp, pricing=pricing)
    engaged = np.unique(inp.graph.partner[res.chosen & ~inp.graph.locked]).size
    return res.status, res.coverage, engaged, res.cost_units


@pytest.mark.parametrize("seed", range(80))
def test_priced_solves_equal_the_full_network_on_random_rounds(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flow_solver, "CHEAPEST", 1)  # small rounds: start from one candidate each, so pricing works
    problem = load_problem(random_document(seed))
    for role in ROLES:
        inp = role_input(problem, role)
        try:
            full = outcome(inp, "off")
        except SolverUnsuitable:
            continue
        for mode in MODES:
            assert outcome(role_input(problem, role), mode) == full, (seed, role, mode)


@pytest.mark.parametrize(("seed", "slots", "cap"), [(1, 1, None), (2, 1, 2), (3, 2, None), (4, 2, 3), (5, 1, None)])
def test_priced_solves_equal_the_full_network_on_national_samples(
    seed: int, slots: int, cap: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few hundred schools around real towns, one or two advisers each, with and without a company cap."""
    monkeypatch.setattr(flow_solver, "CHEAPEST", 2)
    raw = fixtures.national_problem(n_schools=240, n_advisers=200, n_employers=0, seed=seed,
                                    max_schools_per_company=cap, radius_km=25.0)
    raw["policy"]["advisers_per_school"] = slots
    inp = role_input(load_problem(raw), "adviser")
    full = outcome(inp, "off")
    assert full[0] == "optimal"
    for mode in MODES:
        assert outcome(inp, mode) == full, mode


def far_candidate_round() -> dict:
    """Forty-one schools and advisers on a line, where covering every school needs S0 with B, 29 km apart: the
    21st candidate of S0 (twenty advisers 5 km away are all needed by twenty schools that reach nobody else) and
    the 21st of B (twenty schools 6 km away, which have their own advisers)."""
    schools = [school(f"T{i}", *east(-5)) for i in range(20)] + [school("S0", *east(5))]
    schools += [school(f"U{i}", *east(40)) for i in range(20)]
    advisers = [adviser(f"A{i}", *east(0)) for i in range(20)] + [adviser("B", *east(34))]
    advisers += [adviser(f"V{i}", *east(40)) for i in range(20)]
    return document(schools, advisers, advisers_per_school=1, cornerstones_per_school=0)


def test_a_far_candidate_the_optimum_needs_is_found_by_pricing() -> None:
    problem = load_problem(far_candidate_round())
    inp = role_input(problem, "adviser")
    g = inp.graph
    far = int(np.flatnonzero((g.school == 20) & (g.partner == 20))[0])  # S0 with B
    net = flow_solver.lexicographic_network(inp)
    assert not flow_solver.cheapest_arcs(inp, net)[far]  # not where pricing starts
    full = outcome(inp, "off")
    assert full[:2] == ("optimal", role_input(problem, "adviser").values.coverage(np.ones(41, dtype=np.int64)))
    for mode in MODES:
        res = flow_solver.solve_flow(inp, pricing=mode)
        assert res.chosen[far], mode
        assert outcome(inp, mode) == full, mode
