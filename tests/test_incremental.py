"""Incremental re-solves: a previous solution's pairings are kept unless the objective needs them changed."""

from __future__ import annotations

import copy
import dataclasses
import random

import pytest
from helpers import (
    CENTRE,
    Record,
    adviser,
    document,
    east,
    feasible_choices,
    north,
    objective_key,
    random_document,
    rules_of,
    school,
)

from matcher import solve
from models import Problem, Solution, Weights, dump_solution, load_previous, load_problem

CHANGE_KEYS = ("kept_pairings", "changed_pairings", "new_pairings")


def pairings(solution: Solution) -> set[tuple[str, str, str]]:
    return {(a.school, a.role, a.partner) for a in solution.assignments}


def changes(solution: Solution) -> tuple[int, int, int]:
    return tuple(solution.stats[k] for k in CHANGE_KEYS)  # type: ignore[return-value]


def resolve(raw: Record, previous: Solution, **weights: float) -> Solution:
    """Solve the (edited) document with the previous solution as the current pairings."""
    if weights:
        raw = {**raw, "policy": {**raw["policy"], "weights": weights}}
    return solve(load_problem(raw), previous=previous)


def round_of_three() -> Record:
    """A, B, C 60 km apart, each with its own adviser next door; W, free, 25 km west of A."""
    schools = [school("A", *CENTRE), school("B", *north(60)), school("C", *north(120))]
    advisers = [
        adviser("X", *north(0.5)),
        adviser("Y", *north(60.5)),
        adviser("Z", *north(120.5)),
        adviser("W", *east(-25)),
    ]
    return document(schools, advisers, cornerstones_per_school=0)


def test_unchanged_resolve_keeps_every_pairing(lancashire: Problem, lancashire_solution: Solution) -> None:
    again = solve(lancashire, previous=lancashire_solution)
    assert pairings(again) == pairings(lancashire_solution)
    assert changes(again) == (len(lancashire_solution.assignments), 0, 0)


def test_unchanged_resolve_through_the_solution_file(lancashire: Problem, lancashire_solution: Solution) -> None:
    previous = load_previous(dump_solution(lancashire_solution))
    again = solve(lancashire, previous=previous)
    assert pairings(again) == pairings(lancashire_solution)
    assert again.stats["changed_pairings"] == 0


def test_unchanged_resolve_ignores_last_years_partner_of_an_unmatched_school() -> None:
    # A had X last year, but needier B takes X this round; re-solving that round changes nothing
    raw = document(
        [school("A", *CENTRE, current_advisers=["X"], pct_fsm=0), school("B", *north(1), pct_fsm=40)],
        [adviser("X", *CENTRE)],
        cornerstones_per_school=0,
    )
    first = solve(load_problem(raw))
    assert pairings(first) == {("B", "adviser", "X")}
    again = resolve(raw, first)
    assert pairings(again) == pairings(first)
    assert changes(again) == (1, 0, 0)


def test_added_school_with_a_free_adviser_changes_nothing() -> None:
    raw = round_of_three()
    first = solve(load_problem(raw))
    assert pairings(first) == {("A", "adviser", "X"), ("B", "adviser", "Y"), ("C", "adviser", "Z")}
    raw["schools"].append(school("D", *east(-25.5)))
    again = resolve(raw, first)
    assert pairings(again) == pairings(first) | {("D", "adviser", "W")}
    assert changes(again) == (3, 0, 1)


def test_added_school_moves_only_the_pairing_it_needs() -> None:
    raw = round_of_three()
    first = solve(load_problem(raw))
    # D, 28 km east, reaches only X (W is 53 km away): covering D means moving A from X to W
    raw["schools"].append(school("D", *east(28)))
    again = resolve(raw, first)
    assert pairings(again) == {
        ("A", "adviser", "W"),
        ("B", "adviser", "Y"),
        ("C", "adviser", "Z"),
        ("D", "adviser", "X"),
    }
    assert changes(again) == (2, 1, 1)


def test_removed_adviser_changes_only_its_school() -> None:
    raw = round_of_three()
    first = solve(load_problem(raw))
    raw["advisers"] = [a for a in raw["advisers"] if a["id"] != "X"]
    again = resolve(raw, first)
    assert pairings(again) == {("A", "adviser", "W"), ("B", "adviser", "Y"), ("C", "adviser", "Z")}
    assert changes(again) == (2, 1, 0)


def test_large_continuity_keeps_a_pairing_from_a_cheaper_newcomer() -> None:
    # X serves A from 20 km; B, added next to X, is no needier: keeping A-X loses nothing the objective ranks
    raw = document(
        [school("A", *north(20))], [adviser("X", *CENTRE)], cornerstones_per_school=0, weights={"continuity": 100.0}
    )
    first = solve(load_problem(raw))
    raw["schools"].append(school("B", *north(1)))
    again = resolve(raw, first, continuity=100.0)
    assert pairings(again) == {("A", "adviser", "X")}
    assert again.stats["changed_pairings"] == 0


def fewest_changes(raw: Record, role: str, previous: set[tuple[str, str]]) -> tuple[int, int, int, int]:
    """Brute force: the best (covered, filled, need) and then the fewest previous pairings dropped."""
    rules = rules_of(raw, role)
    zero = dict.fromkeys(rules.candidates(), 0)
    return max(
        (*objective_key(rules, zero, c)[:4], -len(previous - c)) for c in feasible_choices(rules, rules.candidates())
    )


def edited(raw: Record, seed: int) -> Record:
    """The round with one school added (odd seeds) or one adviser removed (even seeds)."""
    rng, new = random.Random(seed), copy.deepcopy(raw)
    if seed % 2:
        new["schools"].append(school("new", CENTRE[0] + rng.uniform(-0.15, 0.15), CENTRE[1] + rng.uniform(-0.25, 0.25)))
    else:
        gone = rng.choice(new["advisers"])["id"]
        new["advisers"] = [a for a in new["advisers"] if a["id"] != gone]
        new["pairs"] = [p for p in new["pairs"] if p["partner"] != gone]
    return new


def test_large_continuity_moves_nothing_that_need_not_move() -> None:
    moved = []
    for seed in range(40):
        raw = random_document(seed)
        for s in raw["schools"]:
            s.pop("current_advisers", None)
        for p in raw["pairs"]:
            p.pop("cost", None)  # an imported cost replaces every component, continuity too
        raw["policy"]["weights"] = {"continuity": 1000.0}
        first = solve(load_problem(raw))
        new = edited(raw, seed)
        again = solve(load_problem(new), previous=first)
        for role in ("adviser", "cornerstone"):
            before = {(a.school, a.partner) for a in first.assignments if a.role == role}
            after = {(a.school, a.partner) for a in again.assignments if a.role == role}
            got = (*objective_key(rules_of(new, role), dict.fromkeys(after, 0), after)[:4], -len(before - after))
            best = fewest_changes(new, role, before)
            if got != best:
                moved.append((seed, role, got, best))
    assert moved == []


def test_zero_continuity_is_a_fresh_solve(lancashire_raw: Record, lancashire_solution: Solution) -> None:
    raw = copy.deepcopy(lancashire_raw)
    raw["schools"] = [*raw["schools"][5:], dict(raw["schools"][0], id="twin")]
    raw["advisers"] = raw["advisers"][3:]
    raw["pairs"] = [p for p in raw["pairs"] if p["partner"] in {a["id"] for a in raw["advisers"]}]
    problem = load_problem(raw)
    zero = dataclasses.replace(problem, policy=dataclasses.replace(problem.policy, weights=Weights(continuity=0.0)))
    fresh = solve(zero)
    again = solve(zero, previous=lancashire_solution)
    assert (again.status, again.objective, again.stats["coverage"]) == (
        fresh.status,
        fresh.objective,
        fresh.stats["coverage"],
    )
    assert pairings(again) == pairings(fresh)


@pytest.mark.parametrize("weight", [0.5, 5.0])
def test_continuity_never_costs_coverage(lancashire_raw: Record, lancashire_solution: Solution, weight: float) -> None:
    raw = copy.deepcopy(lancashire_raw)
    raw["advisers"] = raw["advisers"][10:]
    raw["pairs"] = [p for p in raw["pairs"] if p["partner"] in {a["id"] for a in raw["advisers"]}]
    raw["policy"]["weights"] = {**raw["policy"]["weights"], "continuity": weight}
    problem = load_problem(raw)
    assert solve(problem, previous=lancashire_solution).stats["coverage"] == solve(problem).stats["coverage"]


@pytest.mark.parametrize("through", ["current_advisers", "previous"])
def test_continuity_honours_both_current_advisers_of_a_school(through: str) -> None:
    # A had X (4 km) and Y (6 km); Z and V moved in next door. With continuity worth more than the 4-6 km saving,
    # both of last term's advisers stay; by a file's current_advisers or by a previous solution alike
    advisers = [adviser("X", *north(4)), adviser("Y", *north(6)), adviser("Z", *north(0.1)), adviser("V", *east(0.1))]
    current = {"current_advisers": ["X", "Y"]} if through == "current_advisers" else {}
    raw = document([school("A", *CENTRE, **current)], advisers, advisers_per_school=2, cornerstones_per_school=0)
    raw["policy"]["weights"] = {"distance": 1.0, "continuity": 0.5}
    previous = None
    if through == "previous":
        previous = dataclasses.replace(
            solve(load_problem(raw)),
            assignments=tuple(
                dataclasses.replace(a, partner=p)
                for a, p in zip(solve(load_problem(raw)).assignments, ("X", "Y"), strict=True)
            ),
        )
    got = solve(load_problem(raw), previous=previous)
    assert pairings(got) == {("A", "adviser", "X"), ("A", "adviser", "Y")}
    assert changes(got) == (2, 0, 0)
    raw["policy"]["weights"] = {"distance": 1.0, "continuity": 0.0}  # continuity worthless: the nearest two
    assert pairings(solve(load_problem(raw), previous=previous)) == {("A", "adviser", "Z"), ("A", "adviser", "V")}
