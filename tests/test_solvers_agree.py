"""The solvers against scipy's assignment solver, a textbook instance, and each other on the bundled hubs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CENTRE, Record, adviser, document, employer, school
from scipy.optimize import linear_sum_assignment

import fixtures
from matcher.solve import role_input
from matcher.solvers import RoleResult, solve_role
from models import Problem, load_problem


def one_to_one(costs: np.ndarray, role: str = "adviser") -> Record:
    """Schools x partners all in reach, capacity 1, one slot, every pair imported with its cost."""
    n_s, n_p = costs.shape
    schools = [school(f"s{i}", *CENTRE) for i in range(n_s)]
    pairs = [
        {"school": f"s{i}", "partner": f"p{j}", "cost": float(costs[i, j])} for i in range(n_s) for j in range(n_p)
    ]
    if role == "adviser":
        return document(
            schools, [adviser(f"p{j}", *CENTRE) for j in range(n_p)], pairs=pairs, cornerstones_per_school=0
        )
    return document(schools, [], [employer(f"p{j}", [CENTRE]) for j in range(n_p)], pairs=pairs, advisers_per_school=0)


def solve_one_to_one(costs: np.ndarray, solver: str = "flow", role: str = "adviser") -> tuple[RoleResult, list]:
    """The role's result and its (school index, partner index) pairs, sorted."""
    problem = load_problem(one_to_one(costs, role))
    inp = role_input(problem, role)
    res = solve_role(inp, solver, 10.0)
    g = inp.graph
    return res, sorted(zip(g.school[res.chosen].tolist(), g.partner[res.chosen].tolist(), strict=True))


def scipy_units(costs: np.ndarray) -> int:
    """Minimum total cost in integer thousandths of a maximum matching, by scipy's Hungarian-type solver."""
    units = np.rint(costs * 1000).astype(np.int64)
    rows, cols = linear_sum_assignment(units)
    return int(units[rows, cols].sum())


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (7, 7), (3, 6), (6, 3), (8, 5), (2, 9)])
def test_flow_matches_scipy_on_one_to_one_rounds(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape) * 31 + shape[0])
    for _ in range(15):
        costs = np.round(rng.uniform(-3, 10, size=shape), 3)
        res, chosen = solve_one_to_one(costs)
        assert len(chosen) == min(shape)
        assert len({s for s, _ in chosen}) == len({p for _, p in chosen}) == min(shape)
        assert res.cost_units == scipy_units(costs)


@pytest.mark.parametrize("solver", ["mip", "cpsat"])
def test_integer_solvers_match_scipy_on_one_to_one_rounds(solver: str) -> None:
    rng = np.random.default_rng(5)
    for shape in [(5, 5), (4, 6), (6, 4)]:
        costs = np.round(rng.uniform(0, 10, size=shape), 3)
        res, chosen = solve_one_to_one(costs, solver)
        assert res.status == "optimal"
        assert (len(chosen), res.cost_units) == (min(shape), scipy_units(costs))


def test_employers_one_to_one_match_scipy() -> None:
    costs = np.round(np.random.default_rng(9).uniform(0, 4, size=(6, 6)), 3)
    res, _ = solve_one_to_one(costs, role="cornerstone")
    assert res.cost_units == scipy_units(costs)


def test_textbook_square_assignment() -> None:
    # Of the six permutations (costs 18, 15, 17, 16, 16, 18) only s0-p0, s1-p2, s2-p1 costs 15
    costs = np.array([[8, 4, 7], [5, 2, 3], [9, 4, 8]], dtype=float)
    res, chosen = solve_one_to_one(costs)
    assert chosen == [(0, 0), (1, 2), (2, 1)]
    assert res.cost_units == 15_000


def test_textbook_rectangular_assignment() -> None:
    # Two schools, three partners: s0-p1 + s1-p0 = 1 + 2 beats s0-p2 + s1-p1 = 3.5 + 0 and the other four
    costs = np.array([[4, 1, 3.5], [2, 0, 6]])
    res, chosen = solve_one_to_one(costs)
    assert chosen == [(0, 1), (1, 0)]
    assert res.cost_units == 3_000


def agree(problem: Problem, role: str, solvers: tuple[str, ...]) -> None:
    """Every solver proves the same coverage and cost for the role."""
    inp = role_input(problem, role)
    found = {name: solve_role(inp, name, 30.0) for name in solvers}
    assert {name: r.status for name, r in found.items()} == dict.fromkeys(solvers, "optimal")
    assert len({(r.coverage, r.cost_units) for r in found.values()}) == 1, {
        name: (r.coverage, r.cost_units) for name, r in found.items()
    }


@pytest.mark.parametrize("role", ["adviser", "cornerstone"])
def test_flow_and_mip_agree_on_cumbria(cumbria: Problem, role: str) -> None:
    agree(cumbria, role, ("flow", "mip"))


@pytest.mark.slow
@pytest.mark.parametrize("role", ["adviser", "cornerstone"])
def test_cpsat_agrees_on_cumbria(cumbria: Problem, role: str) -> None:
    agree(cumbria, role, ("flow", "cpsat"))


def test_flow_and_mip_agree_on_lancashire_advisers(lancashire: Problem) -> None:
    agree(lancashire, "adviser", ("flow", "mip"))


@pytest.mark.slow
def test_mip_and_cpsat_agree_on_a_small_generalised_assignment() -> None:
    agree(load_problem(fixtures.gap_problem(n_employers=6, n_schools=40)), "cornerstone", ("mip", "cpsat"))


@pytest.mark.parametrize("seed", range(12))
def test_a_round_whose_weights_would_overflow_the_flow_is_still_solved_exactly(seed: int, monkeypatch) -> None:
    """When the lexicographic weights cannot fit 64-bit flow arithmetic (a national round with several slots per
    school), the flow refuses, the MIP's seed falls back to the cheapest maximum flow, and the MIP still proves the
    brute-force optimum. The headroom is shrunk so that small rounds take that path."""
    from helpers import brute_force_best, chosen_pairs, objective_key, random_document, rules_of, unit_costs, violations

    from matcher.solvers import flow
    from matcher.solvers import seed as seeding

    raw = random_document(seed)
    problem = load_problem(raw)
    inp = role_input(problem, "adviser")
    monkeypatch.setattr(flow, "_INT64_HEADROOM", 1)
    with pytest.raises(flow.SolverUnsuitable, match="overflow"):
        flow.solve_flow(inp)
    start = seeding.seed(inp)
    rules, costs = rules_of(raw, "adviser"), unit_costs(problem, inp)
    assert not violations(rules, chosen_pairs(problem, inp, start))
    result = solve_role(inp, "auto", 30.0)
    assert (result.solver, result.status) == ("mip", "optimal")
    best, _ = brute_force_best(rules, rules.candidates(), costs)
    assert objective_key(rules, costs, chosen_pairs(problem, inp, result.chosen)) == best
