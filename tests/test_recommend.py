"""A newcomer mid-term: the first recommendation is exactly what a full incremental re-solve with the newcomer
gives; every recommendation, applied to the solution, keeps every rule and changes the objective as it says; the
others are the best rounds with the newcomer at their first school, sorted; the chains read as the moves."""

from __future__ import annotations

import copy
import random
from typing import Any

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
    random_kinds_document,
    rules_of,
    school,
    unit_costs,
    violations,
)

from matcher import solve
from matcher.recommend import Placement, RoleRecommendations, recommend, with_newcomer
from matcher.solve import role_input, with_previous
from matcher.solvers import solve_role
from models import ProblemError, Solution, load_problem
from models.newcomers import load_newcomer

SEEDS = range(60)


def newcomer_record(seed: int) -> tuple[str, Record]:
    """A random newcomer near the random rounds' schools: an adviser, a school or an employer in turn."""
    rng = random.Random(1000 + seed)
    lat, lon = CENTRE[0] + rng.uniform(-0.25, 0.25), CENTRE[1] + rng.uniform(-0.35, 0.35)
    kind = ("adviser", "school", "employer")[seed % 3]
    if kind == "adviser":
        return kind, adviser(
            "NEW",
            lat,
            lon,
            company=rng.choice(["C0", "C1", "Z"]),
            capacity=rng.choice([1, 1, 2, 3]),
            sectors=rng.sample(["digital", "health"], rng.randint(0, 1)),
            skills=rng.sample(["send", "mentoring"], rng.randint(0, 2)),
        )
    if kind == "school":
        return kind, school("NEW", lat, lon, pct_fsm=rng.uniform(0, 50), sectors=["health"])
    return kind, {
        "id": "NEW",
        "name": "New employer",
        "capacity": rng.choice([1, 2]),
        "sites": [{"lat": lat, "lon": lon}],
    }


def joined_document(raw: Record, kind: str, record: Record) -> Record:
    """The raw document with the newcomer added: what the brute force reads."""
    out = copy.deepcopy(raw)
    out[{"adviser": "advisers", "school": "schools", "employer": "employers"}[kind]].append(record)
    return out


def applied(base: set[tuple[str, str]], placement: Placement) -> set[tuple[str, str]]:
    """The solution's pairings of the role with the placement's changes made."""
    return (base - {(c.school, c.partner) for c in placement.dropped}) | {
        (c.school, c.partner) for c in placement.added
    }


def check_round(raw: Record, kind: str, record: Record, top: int = 4, brute: bool = True) -> list[RoleRecommendations]:
    """Recommend the newcomer and check every recommendation against a full re-solve and (small rounds) brute
    force; returns the recommendations."""
    problem = load_problem(raw)
    solution = solve(problem)
    newcomer = load_newcomer(kind, record, problem)
    found = recommend(problem, solution, newcomer, top)
    joined = with_previous(with_newcomer(problem, newcomer), solution)
    full_raw = joined_document(raw, kind, record)
    for rec in found:
        inp = role_input(joined, rec.role)
        if inp.unit_loads() and not (inp.distinct_sectors and inp.graph.slots > 1):
            assert rec.method == "augmenting paths", rec.reason
        full = solve_role(inp, "auto", 10.0)
        first = rec.placements[0]
        assert (rec.base_coverage + first.coverage, rec.base_cost_units + first.cost_units) == (
            full.coverage,
            full.cost_units,
        )
        rules, costs = rules_of(full_raw, rec.role), unit_costs(joined, inp)
        base = {(a.school, a.partner) for a in solution.assignments if a.role == rec.role}
        base_key = objective_key(rules, costs, base)
        values = [p.value for p in rec.placements]
        assert values[1:] == sorted(values[1:]) and all(values[0] <= v for v in values)
        assert len({p.anchor for p in rec.placements}) == len(rec.placements)
        forced_best = _best_by_anchor(rules, costs, kind, record["id"], rec) if brute else {}
        for p in rec.placements:
            choice = applied(base, p)
            assert violations(rules, choice) == [], (rec.role, p.rank)
            key = objective_key(rules, costs, choice)
            assert (key[0] - base_key[0], key[1] - base_key[1], key[2] - base_key[2], base_key[3] - key[3]) == (
                p.schools_covered,
                p.slots_filled,
                p.need,
                p.cost_units,
            )
            assert round(sum(c.cost for c in p.added) - sum(c.cost for c in p.dropped), 6) == round(p.cost_change, 6)
            if p.anchor is not None and brute:
                assert key == forced_best[p.anchor], (rec.role, p.rank, p.anchor)
        if brute and rec.method == "augmenting paths":
            best = max(objective_key(rules, costs, c) for c in feasible_choices(rules, rules.candidates()))
            assert objective_key(rules, costs, applied(base, first)) == best
    return found


def _best_by_anchor(rules, costs, kind: str, new: str, rec: RoleRecommendations) -> dict[str, Any]:
    """For each anchor of the recommendations, the best objective over the feasible choices that pair it with the
    newcomer (brute force)."""
    anchors = {p.anchor for p in rec.placements if p.anchor is not None}
    pair = (lambda a: (new, a)) if kind == "school" else (lambda a: (a, new))
    best: dict[str, Any] = {}
    for choice in feasible_choices(rules, rules.candidates()):
        key = objective_key(rules, costs, choice)
        for a in anchors:
            if pair(a) in choice and (a not in best or key > best[a]):
                best[a] = key
    return best


@pytest.mark.parametrize("seed", SEEDS)
def test_recommendations_match_a_full_resolve_and_brute_force_on_random_rounds(seed: int) -> None:
    kind, record = newcomer_record(seed)
    check_round(random_document(seed), kind, record)


@pytest.mark.parametrize("seed", range(20))
def test_recommendations_match_brute_force_with_rules_per_kind_of_school(seed: int) -> None:
    """Per-kind slots (a college taking two advisers, a kind taking none), skills and radii."""
    kind, record = newcomer_record(seed)
    if kind == "school":
        record = {**record, "kind": ("college", "ap", "send", "mainstream")[seed % 4]}
    check_round(random_kinds_document(seed), kind, record)


@pytest.mark.parametrize("seed", range(6))
def test_the_first_recommendation_matches_a_full_resolve_on_a_hub(lancashire_raw: Record, seed: int) -> None:
    """Lancashire: company caps, skills, two Cornerstone slots with distinct sectors (re-solved, labelled)."""
    rng = random.Random(seed)
    lat, lon = rng.uniform(53.6, 54.1), rng.uniform(-3.0, -2.2)
    kind = ("adviser", "school")[seed % 2]
    record = (
        adviser("NEW", lat, lon, company=rng.choice(["C0003", "New Co"]), capacity=rng.randint(1, 3))
        if kind == "adviser"
        else school("NEW", lat, lon, pct_fsm=rng.uniform(0, 50))
    )
    found = check_round(lancashire_raw, kind, record, top=5, brute=False)
    assert found[0].method == "augmenting paths"
    if kind == "school":
        assert found[1].method == "re-solve"
        assert found[1].reason == (
            "the round's rules are not a flow (partners of one school must have distinct sectors)"
        )


def two_schools_one_adviser() -> Record:
    """Burnley High and Padiham Green 10 km apart; Sam Jones between them, nearer Burnley High."""
    schools = [school("BH", *CENTRE, name="Burnley High"), school("PG", *east(10), name="Padiham Green")]
    advisers = [adviser("SJ", *east(4), name="Sam Jones")]
    return document(schools, advisers, cornerstones_per_school=0)


def test_a_newcomer_takes_a_school_whose_adviser_moves_to_one_that_had_none() -> None:
    raw = two_schools_one_adviser()
    ana = adviser("AP", *east(-5), name="Ana Patel", max_travel_km=8)  # reaches Burnley High only
    [rec] = check_round(raw, "adviser", ana)
    first = rec.placements[0]
    assert first.chain == (
        "Ana Patel takes Burnley High; Burnley High's adviser Sam Jones moves to Padiham Green, which had none"
    )
    assert (first.schools_covered, first.newcomer_pairs, rec.method) == (1, ("BH",), "augmenting paths")
    assert [(s.partner, s.left, s.took) for s in first.steps] == [("AP", (), ("BH",)), ("SJ", ("BH",), ("PG",))]


def test_a_newcomer_that_improves_nothing_is_placed_nowhere_first() -> None:
    raw = two_schools_one_adviser()
    raw["schools"].pop()  # Burnley High alone, with Sam Jones
    far = adviser("AP", *north(20), name="Ana Patel")
    [rec] = check_round(raw, "adviser", far)
    first, second = rec.placements
    assert (first.chain, first.added, first.value) == ("no placement improves the round", (), 0)
    assert second.chain == "Ana Patel takes Burnley High; Burnley High's adviser Sam Jones is freed"
    assert second.value > 0 and second.schools_covered == 0


def test_a_solution_that_is_no_longer_optimal_is_answered_by_a_resolve() -> None:
    raw = two_schools_one_adviser()
    raw["advisers"].append(adviser("FAR", *east(30), name="Far Away"))  # reaches Padiham Green only
    problem = load_problem(raw)
    wrong = solve(load_problem({**raw, "advisers": raw["advisers"][1:]}))  # Far Away alone: Padiham Green
    assert {(a.school, a.partner) for a in wrong.assignments} == {("PG", "FAR")}
    stale = Solution("optimal", 0.0, 0.0, 0.0, (), (), {})  # nobody placed though Sam Jones is free
    for solution in (wrong, stale):
        newcomer = load_newcomer("adviser", adviser("AP", *north(40)), problem)
        [rec] = recommend(problem, solution, newcomer, 3)
        assert rec.method == "re-solve"
        assert rec.reason == "the current pairings are not the round's optimum as it stands (a cheaper matching exists)"
        assert (
            rec.base_coverage + rec.placements[0].coverage
            == solve_role(role_input(with_previous(with_newcomer(problem, newcomer), solution), "adviser")).coverage
        )


def test_a_pairing_that_is_no_longer_a_candidate_is_named() -> None:
    raw = two_schools_one_adviser()
    problem = load_problem(raw)
    solution = solve(problem)
    moved = load_problem({**raw, "advisers": [adviser("SJ", *north(80), name="Sam Jones")]})
    [rec] = recommend(moved, solution, load_newcomer("adviser", adviser("AP", *CENTRE), moved), 2)
    assert (rec.method, rec.reason) == (
        "re-solve",
        "the current pairing of 'BH' with 'SJ' is no longer a candidate of the round",
    )


def test_a_newcomer_with_an_id_of_the_round_or_a_bad_field_is_refused_by_name() -> None:
    problem = load_problem(two_schools_one_adviser())
    with pytest.raises(ProblemError) as err:
        load_newcomer("adviser", adviser("SJ", *CENTRE), problem)
    assert err.value.as_dict()["details"] == [
        {
            "record": "adviser (SJ)",
            "field": "id",
            "message": "Id already used by an adviser or employer of the round; a newcomer needs a new id.",
        }
    ]
    with pytest.raises(ProblemError) as err:
        load_newcomer("school", school("NEW", 91.0, 0.0), problem)
    assert err.value.as_dict()["details"] == [
        {
            "record": "school (NEW)",
            "field": "lat",
            "message": "Must be greater than or equal to -90 and less than or equal to 90.",
        }
    ]
