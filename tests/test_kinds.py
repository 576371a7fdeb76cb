"""The policy's rules per kind of school: slots, required skills and radius per kind, checked against brute force,
across the three solvers, against today's solutions when the rules say nothing, and at the edge."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
from helpers import (
    CENTRE,
    Record,
    adviser,
    document,
    haversine_km,
    north,
    random_kinds_document,
    rules_of,
    school,
)
from test_optimality import check

import fixtures
from matcher import solve
from models import ProblemError, load_problem

ROLES = ("adviser", "cornerstone")


def misses(solver: str, seeds: range, need_proof: bool) -> list[tuple]:
    """(seed, role, ...) wherever the solver misses the brute-force optimum on a round with rules per kind."""
    out = []
    for seed in seeds:
        raw = random_kinds_document(seed, loads=seed % 2 == 1)
        for role in ROLES:
            found = check(raw, role, solver)
            if found is not None and (
                (found[0] == "optimal" and found[1] != found[2]) or (need_proof and found[0] != "optimal")
            ):
                out.append((seed, role, *found))
    return out


@pytest.mark.parametrize(
    ("solver", "seeds", "need_proof"), [("flow", 40, True), ("mip", 40, True), ("cpsat", 16, False)]
)
def test_solvers_reach_the_brute_force_optimum_with_rules_per_kind(solver: str, seeds: int, need_proof: bool) -> None:
    assert misses(solver, range(seeds), need_proof) == []


def test_random_kinds_rounds_exercise_every_rule_per_kind() -> None:
    """The seeds are only worth running if the rules bite: pairs removed by a kind's skills and by its radius, and
    schools of one round taking one adviser and two, and colleges taking none."""
    seen: Counter[str] = Counter()
    for seed in range(40):
        raw = random_kinds_document(seed)
        rules = rules_of(raw, "adviser")
        pairs = [(s, p) for s in rules.schools for p in rules.partners]
        seen["kind_skills"] += any(rules.barred(s, p) == "kind_skills" for s, p in pairs)
        seen["kind_radius"] += any(rules.reach(s, p) < rules.km(s, p) <= rules.radius[p] for s, p in pairs)
        seen["mixed_slots"] += {1, 2} <= {rules.slots_of(s) for s in rules.schools}
        seen["no_slot"] += any(rules.slots_of(s) == 0 for s in rules.schools)
    assert min(seen[k] for k in ("kind_skills", "kind_radius", "mixed_slots", "no_slot")) >= 8, seen


def test_solvers_agree_on_rules_per_kind() -> None:
    """Flow, MIP and CP-SAT reach the same objective on every role the flow can take."""
    for seed in range(0, 40, 2):
        raw = random_kinds_document(seed)
        keys = {solver: check(raw, "adviser", solver) for solver in ("flow", "mip", "cpsat")}
        assert keys["flow"] is not None
        assert {k[1] for k in keys.values() if k is not None and k[0] == "optimal"} == {keys["flow"][1]}, seed


def neutral_kinds(policy: Record) -> dict[str, Record]:
    """Rules per kind that restate the policy: each kind's slots are the policy's, its radius the widest."""
    same = {key: policy.get(key, 1) for key in ("advisers_per_school", "cornerstones_per_school")}
    return {"mainstream": {**same, "required_skills": [], "max_travel_km": 200}, "send": {}, "ap": {}, "college": {}}


@pytest.mark.parametrize("build", [fixtures.lancashire_problem, fixtures.cumbria_problem])
def test_kinds_that_restate_the_policy_give_todays_solution(build) -> None:
    raw = build()
    today = solve(load_problem(raw))
    with_kinds = copy.deepcopy(raw)
    with_kinds["policy"]["kinds"] = neutral_kinds(raw["policy"])
    again = solve(load_problem(with_kinds))
    assert again.assignments == today.assignments
    assert again.unmatched == today.unmatched
    assert again.objective == today.objective


def test_colleges_take_two_advisers_and_other_schools_one() -> None:
    schools = [school("college", *CENTRE, kind="college"), school("academy", *north(1))]
    advisers = [adviser(f"a{j}", *north(0.2 * j)) for j in range(4)]
    raw = document(schools, advisers, cornerstones_per_school=0, kinds={"college": {"advisers_per_school": 2}})
    solution = solve(load_problem(raw))
    assert Counter(a.school for a in solution.assignments) == {"college": 2, "academy": 1}
    assert solution.unmatched == ()


def test_a_kind_with_no_slots_takes_no_partner() -> None:
    schools = [school("college", *CENTRE, kind="college"), school("academy", *north(1))]
    raw = document(
        schools,
        [adviser("a", *CENTRE, capacity=2)],
        cornerstones_per_school=0,
        kinds={"college": {"advisers_per_school": 0}},
    )
    solution = solve(load_problem(raw))
    assert [(a.school, a.partner) for a in solution.assignments] == [("academy", "a")]
    assert solution.unmatched == ()


def test_required_skills_and_radius_per_kind_are_counted_as_rules() -> None:
    """An alternative provider needs an "ap" skill and takes advisers from 5 km at most; the detail of its open
    slot counts each rule, and a mainstream school beside it is not touched by either."""
    schools = [school("pru", *CENTRE, kind="ap"), school("academy", *CENTRE)]
    advisers = [
        adviser("near", *north(1)),
        adviser("skilled_far", *north(8), skills=["ap"]),
        adviser("skilled_near", *north(2), skills=["ap"], unavailable=True),
    ]
    raw = document(
        schools, advisers, cornerstones_per_school=0, kinds={"ap": {"required_skills": ["ap"], "max_travel_km": 5}}
    )
    solution = solve(load_problem(raw))
    assert [(a.school, a.partner) for a in solution.assignments] == [("academy", "near")]
    detail = "3 advisers within reach, all removed by rules (1 unavailable, 1 kind_skills, 1 kind_radius)."
    assert [(u.school, u.reason, u.detail) for u in solution.unmatched] == [("pru", "blocked_by_rule", detail)]


def test_a_partners_own_radius_still_applies_when_shorter_than_its_kinds() -> None:
    schools = [school("college", *CENTRE, kind="college")]
    raw = document(
        schools,
        [adviser("a", *north(12), max_travel_km=10)],
        cornerstones_per_school=0,
        default_max_travel_km=30,
        kinds={"college": {"max_travel_km": 20}},
    )
    assert solve(load_problem(raw)).unmatched[0].reason == "out_of_reach"
    raw["advisers"][0]["max_travel_km"] = 15
    solution = solve(load_problem(raw))
    assert [a.partner for a in solution.assignments] == ["a"]
    assert solution.assignments[0].distance_km == pytest.approx(haversine_km(*CENTRE, *north(12)))


def test_imported_costs_and_locked_pairs_stand_outside_a_kinds_radius() -> None:
    schools = [school("college", *CENTRE, kind="college"), school("ap", *north(0.5), kind="ap")]
    advisers = [adviser("given", *north(25)), adviser("locked", *north(25))]
    pairs = [
        {"school": "college", "partner": "given", "cost": 0.5},
        {"school": "ap", "partner": "locked", "locked": True},
    ]
    raw = document(
        schools,
        advisers,
        pairs=pairs,
        cornerstones_per_school=0,
        kinds={"college": {"max_travel_km": 5}, "ap": {"max_travel_km": 5}},
    )
    assert sorted((a.school, a.partner) for a in solve(load_problem(raw)).assignments) == [
        ("ap", "locked"),
        ("college", "given"),
    ]


def faults(raw: Record) -> list[tuple[str, str, str]]:
    with pytest.raises(ProblemError) as caught:
        load_problem(raw)
    return [(f.record, f.field, f.message) for f in caught.value.faults]


@pytest.mark.parametrize(
    ("kinds", "field", "message"),
    [
        ({"colege": {}}, "policy.kinds.colege", "Unknown kind of school; the kinds are mainstream, send, ap, college."),
        ({"college": {"advisers_per_schol": 2}}, "policy.kinds.college.advisers_per_schol", "Unknown field."),
        (
            {"college": {"advisers_per_school": 6}},
            "policy.kinds.college.advisers_per_school",
            "Must be greater than or equal to 0 and less than or equal to 5.",
        ),
        ({"college": {"advisers_per_school": 1.5}}, "policy.kinds.college.advisers_per_school", "Not a valid integer."),
        (
            {"ap": {"max_travel_km": 0}},
            "policy.kinds.ap.max_travel_km",
            "Must be greater than 0 and less than or equal to 200.",
        ),
        (
            {"ap": {"required_skills": "ap"}},
            "policy.kinds.ap.required_skills",
            "Must be a list of non-empty strings of at most 64 characters.",
        ),
        ({"ap": 2}, "policy.kinds.ap", "Must be an object of rules."),
        (["ap"], "policy.kinds", "Must map kinds of school to their rules."),
    ],
)
def test_bad_rules_per_kind_are_refused_naming_the_field(kinds: object, field: str, message: str) -> None:
    raw = document([school("s", *CENTRE)], [adviser("a", *CENTRE)], kinds=kinds)
    assert faults(raw) == [("problem", field, message)]


def test_locked_pairs_beyond_a_kinds_slots_are_refused_naming_the_kinds_rule() -> None:
    pairs = [{"school": "s", "partner": p, "locked": True} for p in ("a", "b")]
    raw = document(
        [school("s", *CENTRE, kind="college")],
        [adviser("a", *CENTRE), adviser("b", *CENTRE)],
        pairs=pairs,
        advisers_per_school=2,
        kinds={"college": {"advisers_per_school": 1}},
    )
    assert faults(raw) == [
        (
            "pairs[1] (s~b)",
            "locked",
            "The school has 2 locked adviser pairs but policy.kinds.college.advisers_per_school is 1.",
        )
    ]
    raw["policy"]["kinds"]["college"]["advisers_per_school"] = 2
    assert len(solve(load_problem(raw)).assignments) == 2
