"""The "volunteers engaged" level: every solver engages the most willing partners that brute force can, below
schools covered, slots filled and need and above cost; and every idle partner gets a reason that holds."""

from __future__ import annotations

import random

import numpy as np
import pytest
from helpers import (
    adviser,
    brute_force_best,
    chosen_pairs,
    document,
    east,
    employer,
    feasible_choices,
    north,
    objective_key,
    random_document,
    rules_of,
    school,
    unit_costs,
    violations,
)

import fixtures
import matcher.objective
from matcher import solve
from matcher.progress import no_step
from matcher.solve import role_input
from matcher.solvers import SolverUnsuitable, flow, solve_role
from matcher.solvers.need import augmentable
from matcher.solvers.pricing import NetworkSolver
from models import load_problem

ROLES = ("adviser", "cornerstone")


def engagement_document(seed: int) -> dict:
    """A random round where volunteers outnumber places: advisers and employers take up to three schools, so
    the cheapest matching often gives one partner two schools while another waits."""
    raw = random_document(seed, loads=seed % 4 == 3)
    rng = random.Random(seed)
    raw["policy"]["max_schools_per_company"] = (None, 2, 3)[seed % 3]
    for a in raw["advisers"]:
        a["capacity"] = rng.choice([1, 2, 2, 3])
        a["max_travel_km"] = None
    for e in raw["employers"]:
        e["capacity"] = max(e["capacity"], rng.choice([1, 2, 3]))
    locked = [p for p in raw["pairs"] if p.get("locked")]
    for p in locked:  # the capacities above may only grow, so every locked pair still fits
        p.pop("cost", None)
    return raw


def compare(raw: dict, role: str, solver: str) -> tuple | None:
    """(seed-free) the solver's key against brute force's best, after checking the choice keeps every rule."""
    problem = load_problem(raw)
    inp = role_input(problem, role)
    try:
        res = solve_role(inp, solver, 10.0)
    except SolverUnsuitable:
        return None
    rules = rules_of(raw, role)
    choice = chosen_pairs(problem, inp, res.chosen)
    assert violations(rules, choice) == []
    costs = unit_costs(problem, inp)
    best, _ = brute_force_best(rules, rules.candidates(), costs)
    return res.status, objective_key(rules, costs, choice), best


@pytest.mark.parametrize("trial_spans", [0, matcher.objective.TRIAL_SPANS, 10**6])
def test_flow_engages_as_many_as_brute_force(trial_spans: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way through the flow is exact: a trial unit of 0 always falls back to the proven weights, the
    default trial is certified or falls back, and a huge one is the proven unit itself."""
    monkeypatch.setattr(matcher.objective, "TRIAL_SPANS", trial_spans)
    wrong = []
    for seed in range(80):
        for role in ROLES:
            found = compare(engagement_document(seed), role, "flow")
            if found is not None and (found[0] != "optimal" or found[1] != found[2]):
                wrong.append((seed, role, *found))
    assert wrong == []


def most_engaged(net: flow.Network) -> int:
    """The most partners any matching engages, independently: OR-Tools' maximum flow on the whole network with
    every partner's further units closed."""
    tails, heads, caps = flow.sourced_core(net)
    caps = caps.copy()
    caps[net.rest] = 0
    whole = NetworkSolver(tails, heads, caps, net.n_nodes, len(net.free), "off", np.zeros(0, dtype=bool))
    return whole.max_flow(net.source, net.sink, caps)


def greedy_first_units(net: flow.Network, rng: np.random.Generator) -> np.ndarray:
    """Pair flows taken greedily in a random order through the partners' first units, each where its school,
    partner and company still have room: a maximal flow, often not a maximum one, so that every augmenting path
    left must undo a pair (a residual arc backward)."""
    tails, heads, caps = flow.sourced_core(net)
    n_pairs, n_s = len(net.free), net.sourced - net.core
    room = caps.copy()
    room[net.rest] = 0
    company_arc = {int(tails[a]): a for a in range(net.rest.stop, net.core)}
    taken = np.zeros(n_pairs, dtype=np.int64)
    for a in rng.permutation(n_pairs):
        first = n_pairs + int(heads[a]) - n_s
        path = [net.core + int(tails[a]), a, first]  # the school's source arc, the pair, the partner's first unit
        if heads[first] != net.sink:
            path.append(company_arc[int(heads[first])])
        if all(room[i] > 0 for i in path):
            room[path] -= 1
            taken[a] = 1
    return taken


def test_the_augmenting_path_check_agrees_with_a_maximum_flow() -> None:
    """The trial flow is kept when no augmenting path through the partners' first units exists: on random rounds
    (company caps, locked pairs, capacities up to three) and national samples (hundreds of schools, with and
    without a company cap), with the trial's own pairs and with a greedy maximal choice, the check finds a path
    exactly when a maximum flow engages more partners than the pairs do."""
    rounds = [(engagement_document(seed), role) for seed in range(60) for role in ROLES]
    for seed, cap in enumerate((None, 3, None, 2)):
        raw = fixtures.national_problem(n_schools=240, n_advisers=200, n_employers=0, seed=seed,
                                        max_schools_per_company=cap, radius_km=25.0)
        for a in raw["advisers"][::3]:
            a["capacity"] = 2
        rounds.append((raw, "adviser"))
    verdicts = []
    for number, (raw, role) in enumerate(rounds):
        inp = role_input(load_problem(raw), role)
        try:
            flow.check_flow(inp)
        except SolverUnsuitable:
            continue
        trial = inp.units.with_engaged(inp.units.trial)
        flows, net = flow._solve(inp, trial, "off", np.zeros(len(inp.free), dtype=bool), no_step)
        most = most_engaged(net)
        for kept in (flows, greedy_first_units(net, np.random.default_rng(number))):
            engaged = flow._engaged(inp, net, kept)
            first_units = flow._first_units_flow(net, kept)
            short = augmentable(*first_units, len(net.free), net.n_nodes, net.sourced - net.core, net.sink)
            assert short == (engaged < most), (number, role, engaged, most)
            verdicts.append(short)
    assert verdicts.count(True) >= 5 and verdicts.count(False) > 20, verdicts


@pytest.mark.parametrize("solver", ["mip", "cpsat"])
def test_integer_solvers_engage_as_many_as_brute_force(solver: str) -> None:
    wrong = []
    for seed in range(40 if solver == "mip" else 20):
        for role in ROLES:
            found = compare(engagement_document(seed), role, solver)
            if found is not None and found[0] == "optimal" and found[1] != found[2]:
                wrong.append((seed, role, *found))
            if found is not None and solver == "mip" and found[0] != "optimal":
                wrong.append((seed, role, "unproven"))
    assert wrong == []


def test_the_rounds_make_engagement_matter() -> None:
    """The seeds are only worth running if the new level changes the optimum: count the rounds (one slot, two
    slots, company caps, locked pairs among them) where the best choice without it engages fewer partners."""
    changed = {"one_slot": 0, "two_slots": 0, "company_cap": 0, "locked": 0}
    for seed in range(80):
        raw = engagement_document(seed)
        problem = load_problem(raw)
        for role in ROLES:
            rules = rules_of(raw, role)
            costs = unit_costs(problem, role_input(problem, role))
            keys = [objective_key(rules, costs, c) for c in feasible_choices(rules, rules.candidates())]
            best = max(keys)
            plain = max(keys, key=lambda k: (k[0], k[1], k[2], k[4]))
            if plain[3] < best[3]:
                changed["one_slot" if rules.slots == 1 else "two_slots"] += 1
                changed["company_cap"] += rules.company_cap is not None
                changed["locked"] += bool(rules.locked)
    assert min(changed.values()) >= 3, changed


# --- named cases --------------------------------------------------------------------------------------------


def two_schools(**policy: object) -> dict:
    """Two schools 0.5 km apart; adviser A (capacity 2) beside them, B (capacity 1) 0.9 km further."""
    return document(
        [school("s1", *east(0.0)), school("s2", *east(0.5))],
        [adviser("A", *north(1.0), capacity=2), adviser("B", *north(1.9), capacity=1, company="Other")],
        **policy,
    )


@pytest.mark.parametrize("solver", ["auto", "flow", "mip", "cpsat"])
def test_adviser_b_gets_a_school_rather_than_a_taking_both(solver: str) -> None:
    solution = solve(load_problem(two_schools()), solver=solver)
    assert sorted(a.partner for a in solution.assignments) == ["A", "B"]
    assert (solution.stats["advisers_engaged"], solution.stats["advisers_idle"]) == (2, 0)
    assert solution.idle == ()


def test_without_the_level_a_takes_both() -> None:
    """The same round with the level turned off (as the benchmark runs it): the cheapest matching gives A both
    schools, so the test above is about the new level and not about distances."""
    import dataclasses

    inp = dataclasses.replace(role_input(load_problem(two_schools()), "adviser"), engage=False)
    res = solve_role(inp, "flow")
    assert sorted(inp.graph.partners.ids[p] for p in inp.graph.partner[res.chosen]) == ["A", "A"]


@pytest.mark.parametrize("solver", ["flow", "mip", "cpsat"])
def test_need_outranks_engagement(solver: str) -> None:
    """Company cap 2 for A and B's company: A takes the two neediest schools rather than B a school one tenth
    less needy and nearer to B than s2 is to A, and B is idle because of the cap."""
    needy = {"pct_fsm": 40}
    raw = document(
        [school("s1", *east(0.0), **needy), school("s2", *east(0.4), **needy), school("s3", *east(8.0), pct_fsm=36)],
        [adviser("A", *north(0.5), capacity=2, max_travel_km=3), adviser("B", *east(8.3), max_travel_km=3)],
        max_schools_per_company=2,
    )
    solution = solve(load_problem(raw), solver=solver)
    assert sorted((a.school, a.partner) for a in solution.assignments) == [("s1", "A"), ("s2", "A")]
    assert [(i.partner, i.reason) for i in solution.idle] == [("B", "company_cap")]
    assert solution.idle[0].detail == "Acme has reached max_schools_per_company (2)."


def test_coverage_outranks_engagement() -> None:
    """One slot each: A (capacity 2) alone reaches s2, so A takes s1 and s2 and leaves B idle rather than giving B
    s1 and leaving s2 open... unless B can take s1: then both are engaged. Here B reaches only s1's neighbour."""
    raw = document(
        [school("s1", *east(0.0)), school("s2", *east(10.0))],
        [adviser("A", *east(5.0), capacity=2, max_travel_km=6), adviser("B", *east(-20.0), max_travel_km=6)],
    )
    solution = solve(load_problem(raw))
    assert sorted(a.school for a in solution.assignments) == ["s1", "s2"]
    assert [(i.partner, i.reason) for i in solution.idle] == [("B", "no_school_in_reach")]


# --- idle reasons ---------------------------------------------------------------------------------------------


def test_idle_reasons_in_their_order() -> None:
    """One idle adviser per reason, the unavailable one and one with no capacity not idle at all."""
    raw = document(
        [school("s1", *east(0.0)), school("s2", *east(1.0))],
        [
            adviser("near", *north(0.5)),
            adviser("near2", *north(0.5), company="N"),
            adviser("taken", *north(3.0), company="T"),
            adviser("far", *east(60.0), max_travel_km=10),
            adviser("ruled", *east(1.2), max_travel_km=0.5, conflicts=["s2"], company="R"),
            adviser("away", *north(0.4), unavailable=True),
            adviser("none", *north(0.4), capacity=0),
        ],
        advisers_per_school=1,
    )
    solution = solve(load_problem(raw))
    got = {i.partner: (i.reason, i.detail) for i in solution.idle}
    assert set(got) == {"taken", "far", "ruled"} and len(solution.assignments) == 2
    assert got["taken"] == ("schools_taken", "All 2 schools within reach are taken by advisers nearer, better "
                            "fitting or needed there to cover more schools.")
    assert got["far"] == ("no_school_in_reach", "No school within travel distance; the nearest is over 30 km away.")
    assert got["ruled"] == ("blocked_by_rule", "Schools within reach, all removed by rules (1 conflict).")
    far = next(i for i in solution.idle if i.partner == "far")
    assert far.distance_km == pytest.approx(59.0, abs=0.1) and far.distance_band == "over 30 km"
    assert (solution.stats["advisers_engaged"], solution.stats["advisers_idle"]) == (2, 3)


def test_employer_reasons() -> None:
    raw = document(
        [school("s1", *east(0.0), load=3)],
        [],
        [
            employer("small", [north(1.0)], capacity=2),
            employer("far", [east(80.0)], capacity=5),
            employer("big", [north(2.0)], capacity=5),
        ],
        cornerstones_per_school=1,
    )
    solution = solve(load_problem(raw))
    got = {i.partner: i.reason for i in solution.idle}
    assert [a.partner for a in solution.assignments] == ["big"]
    assert got == {"small": "not_enough_places", "far": "no_school_in_reach"}
    far = next(i for i in solution.idle if i.partner == "far")
    assert far.distance_km == pytest.approx(80.0, abs=0.1)
    assert far.detail == "No school within travel distance; the nearest is 80.0 km away."
    assert (solution.stats["employers_engaged"], solution.stats["employers_idle"]) == (1, 2)


def test_every_idle_reason_holds_on_random_rounds() -> None:
    """For a proven optimum no idle partner is "unassigned" (the reasons are exhaustive), and each reason is
    true of the raw document: no candidate for the first two, a full company, or every candidate school full."""
    seen = set()
    for seed in range(60):
        raw = engagement_document(seed)
        solution = solve(load_problem(raw), time_limit_s=10)
        assert solution.status == "optimal"
        for role in ROLES:
            rules = rules_of(raw, role)
            choice = {(a.school, a.partner) for a in solution.assignments if a.role == role}
            willing = {p for p, r in rules.partners.items() if not r.get("unavailable") and r.get("capacity", 1) > 0}
            idle = {i.partner: i.reason for i in solution.idle if i.role == role}
            assert set(idle) == willing - {p for _, p in choice}, (seed, role)
            cands = rules.candidates()
            for p, reason in idle.items():
                seen.add(reason)
                mine = {s for s, q in cands if q == p}
                if reason in ("no_school_in_reach", "blocked_by_rule"):
                    assert not mine, (seed, p, reason)
                    in_reach = any(rules.km(s, p) <= rules.radius[p] for s in rules.schools) or any(
                        q == p and r.get("cost") is not None for (_, q), r in rules.pairs.items()
                    )  # a pair imported with a cost puts its school in reach
                    assert in_reach == (reason == "blocked_by_rule"), (seed, p)
                elif reason == "company_cap":
                    company = rules.company(p)
                    assert sum(rules.company(q) == company for _, q in choice) >= rules.company_cap
                elif reason == "schools_taken":
                    fits = {s for s in mine if rules.load(s, p) <= rules.capacity(p)}
                    assert fits and all(sum(t == s for t, _ in choice) == rules.slots for s in fits), (seed, p)
                else:
                    assert reason in ("not_enough_places", "sector_taken"), (seed, p, reason)
    assert {"no_school_in_reach", "blocked_by_rule", "company_cap", "schools_taken"} <= seen, seen
