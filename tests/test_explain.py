"""Why a school slot stays open: each reason built on purpose, and checked against the rules on random rounds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from helpers import (
    CENTRE,
    Record,
    RoleRules,
    adviser,
    document,
    employer,
    haversine_km,
    north,
    random_document,
    rules_of,
    school,
    unit_costs,
)

import fixtures
from matcher import explain, solve
from matcher.costs import SCALE
from matcher.solve import role_input
from matcher.solvers import solve_role
from models import Problem, Solution, Unmatched, load_problem
from models.privacy import area_of, band_label

REASONS = {"out_of_reach", "blocked_by_rule", "partners_full", "company_cap", "sector_taken"}


def open_slots(raw: Record, **options: object) -> list[tuple[str, str, str, str]]:
    """(school, role, reason, detail) of every open slot of the solved document."""
    solution = solve(load_problem(raw), **options)
    return [(u.school, u.role, u.reason, u.detail) for u in solution.unmatched]


def test_out_of_reach_gives_the_nearest_distance() -> None:
    """An adviser's distance is personal data (it locates their home): the detail gives its band only."""
    here, far, farther = CENTRE, north(42.0), north(-57.5)
    raw = document([school("s", *here)], [adviser("a", *far), adviser("b", *farther)], cornerstones_per_school=0)
    km = haversine_km(*here, *far)
    assert km == pytest.approx(42.0, abs=1e-9)
    assert open_slots(raw) == [
        ("s", "adviser", "out_of_reach", "No adviser within travel distance; the nearest is over 30 km away.")
    ]


def test_out_of_reach_nearest_site_of_a_cornerstone_employer() -> None:
    raw = document(
        [school("s", 54.3, -3.2)],
        [],
        [employer("e", [(54.9, -2.9), (53.8, -2.6)], capacity=3)],
        advisers_per_school=0,
        cornerstones_per_school=2,
    )
    km = min(haversine_km(54.3, -3.2, 54.9, -2.9), haversine_km(54.3, -3.2, 53.8, -2.6))
    detail = f"No Cornerstone Employer within travel distance; the nearest is {km:.1f} km away."
    assert open_slots(raw) == [("s", "cornerstone", "out_of_reach", detail)] * 2


def test_out_of_reach_when_the_hub_has_no_partner_of_the_role() -> None:
    raw = document([school("s", *CENTRE)], [], [], cornerstones_per_school=0)
    assert open_slots(raw) == [
        ("s", "adviser", "out_of_reach", "No adviser within travel distance; the hub has no advisers.")
    ]


def test_blocked_by_rule_counts_each_rule() -> None:
    advisers = [
        adviser("vetoed", *CENTRE),
        adviser("conflicted", *CENTRE, conflicts=["s"]),
        adviser("away", *CENTRE, unavailable=True),
        adviser("unskilled", *north(3)),
    ]
    raw = document(
        [school("s", *CENTRE, kind="send")],
        advisers,
        cornerstones_per_school=0,
        needs_require_skills=True,
        pairs=[{"school": "s", "partner": "vetoed", "forbidden": True}],
    )
    # every adviser lacks the "send" skill, so three are removed by two rules each
    detail = "4 advisers within reach, all removed by rules (1 unavailable, 1 conflict, 4 skills, 1 forbidden)."
    assert open_slots(raw) == [("s", "adviser", "blocked_by_rule", detail)]


def test_partners_full() -> None:
    raw = document(
        [school("needy", *CENTRE, pct_fsm=40), school("other", *north(2), pct_fsm=0)],
        [adviser("a", *north(1))],
        cornerstones_per_school=0,
    )
    assert open_slots(raw) == [
        (
            "other",
            "adviser",
            "partners_full",
            "All 1 adviser within reach are at capacity with higher-priority schools.",
        )
    ]


def test_partners_full_with_loads() -> None:
    # 3 places: the needier school that asks for 2 gets them, the 2 places left can't take a load of 2
    schools = [school("big", *CENTRE, load=2, pct_fsm=40), school("also", *CENTRE, load=2, pct_fsm=0)]
    raw = document(schools, [], [employer("e", [CENTRE], capacity=3)], advisers_per_school=0)
    assert open_slots(raw) == [
        (
            "also",
            "cornerstone",
            "partners_full",
            "All 1 Cornerstone Employer within reach are at capacity with higher-priority schools.",
        )
    ]


def test_company_cap() -> None:
    advisers = [adviser("x1", *CENTRE, company="Big"), adviser("x2", *CENTRE, company="Big")]
    raw = document(
        [school("s1", *CENTRE, pct_fsm=40), school("s2", *CENTRE, pct_fsm=0)],
        advisers,
        cornerstones_per_school=0,
        max_schools_per_company=1,
    )
    assert open_slots(raw) == [
        (
            "s2",
            "adviser",
            "company_cap",
            "1 adviser within reach with room, but their companies have reached max_schools_per_company.",
        )
    ]


def test_every_open_slot_is_listed() -> None:
    raw = document([school("s", *CENTRE)], [adviser("a", *CENTRE)], cornerstones_per_school=0, advisers_per_school=3)
    found = open_slots(raw)
    assert [r for _, _, r, _ in found] == ["partners_full", "partners_full"]


def partner_room(rules: RoleRules, chosen: set[tuple[str, str]]) -> dict[str, float]:
    used = dict.fromkeys(rules.partners, 0.0)
    for s, p in chosen:
        used[p] += rules.load(s, p)
    return {p: rules.capacity(p) - used[p] for p in rules.partners}


def reach_of(rules: RoleRules, s: str) -> set[str]:
    """Partners the school counts as within reach: its imported-cost partners if it has any (they replace
    geometry), else those within their travel radius; and its locked partners either way."""
    if s in rules.given_schools():
        found = {
            p for (t, p), r in rules.pairs.items() if t == s and r.get("cost") is not None and not r.get("forbidden")
        }
    else:
        found = {p for p in rules.partners if rules.km(s, p) <= rules.radius[p]}
    return found | {p for t, p in rules.locked if t == s}


def reason_holds(raw: Record, solution: Solution, u: Unmatched) -> bool:
    """The stated reason, checked independently against the rules and the solution's choice."""
    rules = rules_of(raw, u.role)
    chosen = {(a.school, a.partner) for a in solution.assignments if a.role == u.role}
    reach = reach_of(rules, u.school)
    usable = {p for s, p in rules.candidates() if s == u.school and (s, p) not in chosen}
    room = partner_room(rules, chosen)
    with_room = {p for p in usable if room[p] + 1e-9 >= rules.load(u.school, p)}
    if u.reason == "out_of_reach":
        if u.role == "adviser":  # an adviser's distance is measured from the adviser's area, never the home
            school = rules.schools[u.school]
            areas = [area_of(a["lat"], a["lon"]) for a in rules.partners.values()]
            nearest = min((haversine_km(school["lat"], school["lon"], *a) for a in areas), default=None)
        else:
            nearest = min((rules.km(u.school, p) for p in rules.partners), default=None)
        stated = f"{nearest:.1f} km" if u.role == "cornerstone" or nearest is None else band_label(nearest)
        return not reach and (nearest is None or f"the nearest is {stated} away" in u.detail)
    if u.reason == "blocked_by_rule":
        return bool(reach) and not {p for s, p in rules.candidates() if s == u.school}
    if u.reason == "partners_full":
        return not with_room
    if u.reason == "company_cap":
        per = {rules.company(p): sum(rules.company(q) == rules.company(p) for _, q in chosen) for p in with_room}
        return bool(with_room) and all(n >= rules.company_cap for n in per.values())
    return u.reason == "sector_taken" and rules.distinct and bool(with_room)


@pytest.mark.parametrize("loads", [False, True])
def test_reasons_hold_on_random_rounds(loads: bool) -> None:
    wrong, seen = [], set()
    for seed in range(40):
        raw = random_document(seed, loads)
        solution = solve(load_problem(raw), time_limit_s=10)
        assert solution.status == "optimal"
        wrong += [
            (seed, u) for u in solution.unmatched if u.reason not in REASONS or not reason_holds(raw, solution, u)
        ]
        seen |= {u.reason for u in solution.unmatched}
    assert wrong == []
    assert seen >= {"out_of_reach", "blocked_by_rule", "partners_full", "company_cap"}


@pytest.mark.parametrize("loads", [False, True])
def test_open_slots_add_up_with_locked_pairs(loads: bool) -> None:
    """Each school's pairings and open slots of a role make its slots (or its locked pairs, when a coordinator
    locked more): a locked pair fills a slot, so it is never counted again as a slot left open."""
    wrong, locked = [], 0
    for seed in range(40):
        raw = random_document(seed, loads)
        solution = solve(load_problem(raw), time_limit_s=10)
        for role in ("adviser", "cornerstone"):
            rules = rules_of(raw, role)
            paired = Counter(a.school for a in solution.assignments if a.role == role)
            left = Counter(u.school for u in solution.unmatched if u.role == role)
            pinned = Counter(s for s, _ in rules.locked)
            locked += sum(pinned.values())
            wrong += [
                (seed, role, s)
                for s in rules.schools
                if paired[s] + left[s] != max(rules.slots_of(s), pinned[s])
            ]
    assert wrong == []
    assert locked >= 10


@pytest.mark.parametrize("block", [1, 2, 5])
def test_counting_in_blocks_changes_no_reason(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counts behind the reasons, taken a few candidates at a time (as a national round with thousands of
    schools out of reach takes them), give the reasons that the checked single pass gives, nothing chosen too."""
    differ, compared = [], 0
    for seed in range(30):
        problem = load_problem(random_document(seed, loads=seed % 2 == 1))
        for role in ("adviser", "cornerstone"):
            inp = role_input(problem, role)
            chosen = solve_role(inp, "auto", 10.0).chosen
            for choice in (chosen, chosen & inp.graph.locked):
                monkeypatch.setattr(explain, "COUNT_BLOCK", 1 << 20)
                whole = explain.unmatched(problem, inp, choice, True), explain.idle(problem, inp, choice, True)
                monkeypatch.setattr(explain, "COUNT_BLOCK", block)
                blocks = explain.unmatched(problem, inp, choice, True), explain.idle(problem, inp, choice, True)
                compared += len(whole[0]) + len(whole[1])
                if blocks != whole:
                    differ.append((seed, role))
    assert differ == []
    assert compared >= 300


@pytest.mark.parametrize("build", [fixtures.lancashire_problem, fixtures.cumbria_problem])
def test_proven_optimal_hubs_never_leave_a_slot_unassigned(build: Callable[[], Record]) -> None:
    solution = solve(load_problem(build()))
    assert solution.status == "optimal"
    assert solution.unmatched
    assert {u.reason for u in solution.unmatched} <= REASONS


def test_lancashire_open_slots_add_up(lancashire: Problem, lancashire_solution: Solution) -> None:
    per_role = {
        "adviser": lancashire.policy.advisers_per_school,
        "cornerstone": lancashire.policy.cornerstones_per_school,
    }
    for role, slots in per_role.items():
        filled = sum(a.role == role for a in lancashire_solution.assignments)
        left = sum(u.role == role for u in lancashire_solution.unmatched)
        assert filled + left == slots * len(lancashire.schools), role



def ranked_alternatives(raw: Record, solution: Solution, role: str) -> dict[tuple[str, str], list[tuple]]:
    """Per assignment, (cost delta in units, partner, full) of every unchosen candidate of its school, cheapest
    first, from the raw rules: the costs are the core's; the candidates, ranking and fullness are recomputed."""
    problem = load_problem(raw)
    costs = unit_costs(problem, role_input(problem, role))
    rules = rules_of(raw, role)
    chosen = {(a.school, a.partner) for a in solution.assignments if a.role == role}
    room = partner_room(rules, chosen)
    per_company = Counter(rules.company(p) for _, p in chosen)

    def full(s: str, p: str) -> bool:
        capped = rules.company_cap is not None and per_company[rules.company(p)] >= rules.company_cap
        return room[p] + 1e-9 < rules.load(s, p) or capped

    return {
        (s0, p0): sorted(
            (costs[(s, p)] - costs[(s0, p0)], p, full(s, p))
            for s, p in rules.candidates()
            if s == s0 and (s, p) not in chosen
        )
        for s0, p0 in chosen
    }


@pytest.mark.parametrize("k", [1, 3])
def test_alternatives_are_the_cheapest_other_candidates(k: int) -> None:
    listed = 0
    for seed in range(40):
        raw = random_document(seed, loads=seed % 2 == 1)
        solution = solve(load_problem(raw), time_limit_s=10, alternatives=k)
        for role in ("adviser", "cornerstone"):
            ranked = ranked_alternatives(raw, solution, role)
            for a in (a for a in solution.assignments if a.role == role):
                got = [(round(x["cost_delta"] * SCALE), x["partner"], x["full"]) for x in a.alternatives]
                every = ranked[(a.school, a.partner)]
                assert [d for d, _, _ in got] == [d for d, _, _ in every[:k]], (seed, a)
                assert set(got) <= set(every), (seed, a)  # among equal deltas, either partner may be listed
                listed += len(got)
    assert listed >= 50 * k
