"""Property tests: on random *valid* rounds built by Hypothesis, every solver keeps the rules, reports what it chose,
explains every open slot, agrees with the other exact solvers, and gives the same answer twice.

The rules are checked from the raw problem document with the independent restatement in ``tests/helpers.py``
(distances, needs, rule filters, loads), never with the core's own arrays; only the integer cost units are taken
from the core, to compare each assignment's reported cost with them.

Hypothesis runs without its example database (``database=None``): a failure prints its ``@reproduce_failure`` blob
and the shrunk document instead. Its other storage (a cache of constants read from the source files) goes to the
system's temporary directory unless HYPOTHESIS_STORAGE_DIRECTORY says otherwise, so that the suite writes no
``.hypothesis/`` directory into the repository.
"""

from __future__ import annotations

import functools
import itertools
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    CENTRE,
    PairKey,
    Record,
    RoleRules,
    adviser,
    chosen_pairs,
    document,
    employer,
    need,
    north,
    rules_of,
    school,
    unit_costs,
)
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from matcher import solve
from matcher.solve import role_input
from matcher.solvers import RoleResult, SolverUnsuitable, solve_role
from models import Problem, Solution, load_problem

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hubmatch-hypothesis")

ROLES = ("adviser", "cornerstone")
REASONS = {"out_of_reach", "blocked_by_rule", "partners_full", "company_cap", "sector_taken", "not_reached"}
SECTORS = ("digital", "health", "energy", "construction")
WEIGHT_DEFAULTS = {"distance": 1.0, "sector": 0.5, "need": 0.5, "continuity": 0.5}  # as documented
TIME_LIMIT_S = 10.0
KM_TOL = 1e-6
HALF_UNIT = 0.5 / 1000  # assignment costs are the component sum rounded to thousandths
LOAD_TOL = 1e-9

# A box of about 60 km x 60 km around Preston: 0.27 degrees of latitude is 30 km, and at 53.75 N 0.45 degrees of
# longitude is 29.6 km. Coordinates are drawn as integers (hundred-thousandths of a degree, ~1 m): Hypothesis draws
# and shrinks integers much faster than floats, and a round has up to ~60 points.
LAT = st.integers(-27_000, 27_000).map(lambda c: round(CENTRE[0] + c / 100_000, 5))
LON = st.integers(-45_000, 45_000).map(lambda c: round(CENTRE[1] + c / 100_000, 5))
POINT = st.tuples(LAT, LON)
SITES = st.lists(POINT, min_size=1, max_size=2)
RADIUS = st.one_of(st.none(), st.integers(200, 4000).map(lambda c: c / 100))  # km, or the policy's default
LOAD = st.one_of(st.integers(1, 4).map(float), st.integers(100, 400).map(lambda c: c / 100))  # 1-4, hundredths
HUNDREDTHS = st.integers(0, 100).map(lambda c: c / 100)
SECTOR_LIST = st.lists(st.sampled_from(SECTORS), max_size=2, unique=True)
# Partners often share a first-listed sector, so that distinct_sectors has something to refuse.
PARTNER_SECTORS = st.one_of(SECTOR_LIST, st.sampled_from([["digital"], ["health"], ["digital", "energy"]]))
KIND = st.sampled_from(["mainstream", "mainstream", "send", "ap", "college"])
NEEDS = st.sampled_from([[], [], ["send"], ["mentoring"]])
SKILLS = st.sampled_from([[], [], ["send"], ["send", "mentoring"]])
GATSBY = st.one_of(
    st.just({}),
    st.integers(0, 100).map(lambda m: {str(b): m for b in range(1, 9)}),
    st.dictionaries(st.sampled_from([str(b) for b in range(1, 9)]), st.integers(0, 100), max_size=8),
)
FSM = st.one_of(st.none(), st.integers(0, 1000).map(lambda c: c / 10))
COMPANY = st.sampled_from(["C0", "C1", "C2", "C3"])
CAPACITY = st.integers(0, 3)
EMPLOYER_CAPACITY = st.sampled_from([0, 1, 2, 3, 1.5, 2.5])  # schools, when every pair takes one place
EMPLOYER_PLACES = st.one_of(st.integers(0, 8), st.integers(0, 800).map(lambda c: c / 100))  # places, with loads
WEIGHTS = st.fixed_dictionaries(
    {}, optional={name: st.integers(0, 200).map(lambda c: c / 100) for name in WEIGHT_DEFAULTS}
)
PRIORITY = st.dictionaries(st.sampled_from(SECTORS), HUNDREDTHS, max_size=2)
PAIR_KIND = st.sampled_from(["locked", "locked", "forbidden", "load"])

BASE = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


# --- valid random rounds ----------------------------------------------------------------------------------------


@functools.cache
def _index(n: int) -> st.SearchStrategy[int]:
    """A position in 0..n-1 (strategies are cached: building them is the slow part of drawing a round)."""
    return st.integers(0, n - 1)


@functools.cache
def _few(n: int) -> st.SearchStrategy[list[int]]:
    """Up to two distinct positions in 0..n-1."""
    return st.lists(st.integers(0, n - 1), max_size=2, unique=True)


@st.composite
def documents(
    draw: st.DrawFn,
    max_schools: int = 25,
    max_advisers: int = 20,
    max_employers: int = 8,
    flow_only: bool = False,
    loads_anywhere: bool = False,
) -> Record:
    """A valid problem document exercising every rule of the problem format (except imported costs).

    With ``flow_only`` every free pair takes one unit of capacity and sectors need not differ, so both roles are
    min-cost-flow problems; locked Cornerstone pairs may still carry a fractional load, which the flow must
    subtract from the employer's capacity before rounding it down.
    A free pair carries a load of its own only where it is within its employer's reach, unless ``loads_anywhere``:
    a load on a pair out of reach crashes the core today (see ``test_a_load_on_any_pair_is_accepted``).
    """
    loads = not flow_only and draw(st.booleans())
    n_s = draw(st.integers(1, max_schools))
    n_a = draw(st.integers(0, max_advisers))
    n_e = draw(st.integers(0, max_employers))
    sids = [f"s{i}" for i in range(n_s)]
    aids = [f"a{j}" for j in range(n_a)]
    eids = [f"e{j}" for j in range(n_e)]

    schools = [_school(draw, sid, aids, eids, loads) for sid in sids]
    advisers = [
        adviser(
            aid,
            *draw(POINT),
            company=draw(COMPANY),
            capacity=draw(CAPACITY),
            max_travel_km=draw(RADIUS),
            sectors=draw(PARTNER_SECTORS),
            skills=draw(SKILLS),
            conflicts=[([*sids, "gone"])[i] for i in draw(_few(n_s + 1))],  # "gone": a school no longer in the hub
            unavailable=draw(_index(7)) == 0,
        )
        for aid in aids
    ]
    employers = [
        employer(
            eid,
            draw(SITES),
            capacity=draw(EMPLOYER_PLACES if loads else EMPLOYER_CAPACITY),
            max_travel_km=draw(RADIUS),
            sectors=draw(PARTNER_SECTORS),
        )
        for eid in eids
    ]
    policy: dict[str, Any] = {
        "advisers_per_school": draw(_index(3)),
        "cornerstones_per_school": draw(_index(3)),
        "default_max_travel_km": draw(st.integers(500, 4000)) / 100,
        "max_schools_per_company": draw(st.one_of(st.none(), st.integers(0, 4))),
        "needs_require_skills": draw(st.booleans()),
        "distinct_sectors": not flow_only and draw(st.booleans()),
        "time_limit_s": TIME_LIMIT_S,
    }
    if draw(st.booleans()):
        policy["weights"] = draw(WEIGHTS)
    hub = {"id": "h", "name": "Hub", "priority_sectors": draw(PRIORITY)}
    doc = document(schools, advisers, employers, hub=hub, **policy)
    doc["pairs"] = _pairs(draw, doc, loads, flow_only, loads_anywhere)
    return doc


def _school(draw: st.DrawFn, sid: str, aids: list[str], eids: list[str], loads: bool) -> Record:
    extra: Record = {"kind": draw(KIND), "sectors": draw(SECTOR_LIST), "needs": draw(NEEDS), "gatsby": draw(GATSBY)}
    fsm = draw(FSM)
    if fsm is not None:
        extra["pct_fsm"] = fsm
    if draw(_index(4)) == 0:
        extra["current_advisers"] = [([*aids, "gone"])[draw(_index(len(aids) + 1))]]
    if eids and draw(_index(4)) == 0:
        extra["current_cornerstones"] = [eids[i] for i in draw(_few(len(eids)))]
    if loads:
        extra["load"] = draw(LOAD)
    return school(sid, *draw(POINT), **extra)


def _pairs(draw: st.DrawFn, doc: Record, loads: bool, flow_only: bool, loads_anywhere: bool) -> list[Record]:
    """Forbidden pairs, pairs with a load of their own, and locked pairs kept feasible as they are drawn: within the
    partner's capacity (in loads) and the school's slots, and never with an unavailable adviser. Locked pairs may
    be out of reach or break a rule (conflict, skills): a coordinator's lock overrides those."""
    schools = {s["id"]: s for s in doc["schools"]}
    sids = [s["id"] for s in doc["schools"]]
    partners = [("adviser", p) for p in doc["advisers"]] + [("cornerstone", p) for p in doc["employers"]]
    if not partners:
        return []
    employers = rules_of(doc, "cornerstone")
    pol = doc["policy"]
    slots = {"adviser": pol["advisers_per_school"], "cornerstone": pol["cornerstones_per_school"]}
    room = {p["id"]: float(p["capacity"]) for _, p in partners}
    taken: Counter[tuple[str, str]] = Counter()
    wish = st.tuples(_index(len(sids)), _index(len(partners)), PAIR_KIND, LOAD, st.booleans())
    wishes = draw(st.lists(wish, max_size=12))
    out: dict[PairKey, Record] = {}
    for s_index, p_index, kind, pair_load, own_load in wishes:
        (role, partner), sid = partners[p_index], sids[s_index]
        key = (sid, partner["id"])
        if key in out:
            continue
        record: Record = {"school": sid, "partner": partner["id"]}
        if role == "cornerstone" and flow_only and kind == "locked":
            record["load"] = pair_load  # free pairs keep one place each: the flow still applies
        elif role == "cornerstone" and loads and (own_load or kind == "load"):
            in_reach = employers.km(*key) < employers.radius[key[1]] - 1e-3
            if loads_anywhere or in_reach or kind == "locked":
                record["load"] = pair_load
        if kind == "forbidden":
            record["forbidden"] = True
        elif kind == "locked":
            load = 1.0 if role == "adviser" else record.get("load", schools[sid].get("load", 1.0))
            if partner.get("unavailable") or taken[sid, role] >= slots[role] or room[partner["id"]] < load - 1e-9:
                continue
            record["locked"] = True
            room[partner["id"]] -= load
            taken[sid, role] += 1
        elif "load" not in record:
            continue
        out[key] = record
    return list(out.values())


# --- the properties, checked from the raw document ----------------------------------------------------------------


def role_choice(solution: Solution, role: str) -> set[PairKey]:
    pairs = [(a.school, a.partner) for a in solution.assignments if a.role == role]
    assert len(pairs) == len(set(pairs)), f"a {role} pair is assigned twice: {pairs}"
    return set(pairs)


def capacity_faults(rules: RoleRules, choice: set[PairKey]) -> list[str]:
    """Property 1: partners' capacities in loads, schools' slots, and company caps (which only locked pairs may
    pass: a company's locked pairs are not refused by validation, so its limit is max(cap, locked))."""
    out = []
    used: Counter[str] = Counter()
    for s, p in choice:
        used[p] += rules.load(s, p)
    out += [f"{p} uses {u:g} of {rules.capacity(p):g}" for p, u in used.items() if u > rules.capacity(p) + LOAD_TOL]
    per_school = Counter(s for s, _ in choice)
    out += [f"{s} has {n} partners, {rules.slots} slots" for s, n in per_school.items() if n > rules.slots]
    if rules.company_cap is not None:
        locked = Counter(rules.company(p) for _, p in rules.locked)
        total = Counter(rules.company(p) for _, p in choice)
        out += [
            f"company {c} has {n} schools, cap {rules.company_cap}"
            for c, n in total.items()
            if n > max(rules.company_cap, locked[c])
        ]
    if rules.distinct:  # not in the brief's list, but a rule all the same
        locked_sectors = Counter((s, rules.sector(p)) for s, p in rules.locked if rules.sector(p))
        per = Counter((s, rules.sector(p)) for s, p in choice if rules.sector(p))
        out += [f"{s} has {n} in {x}" for (s, x), n in per.items() if n > max(1, locked_sectors[s, x])]
    return out


def reach_faults(rules: RoleRules, choice: set[PairKey]) -> list[str]:
    """Property 2: unless locked, a pair is within its partner's radius (haversine) and no rule removes it."""
    out = []
    for s, p in sorted(choice - rules.locked):
        km = rules.km(s, p)
        if km > rules.radius[p] + KM_TOL:
            out.append(f"{(s, p)} is {km:.6f} km apart, radius {rules.radius[p]} km")
        if rules.barred(s, p):
            out.append(f"{(s, p)} is removed by the {rules.barred(s, p)} rule")
    return out


def locked_faults(rules: RoleRules, choice: set[PairKey]) -> list[str]:
    """Property 3: every locked pair is in the solution."""
    return [f"locked {k} missing" for k in sorted(rules.locked - choice)]


def expected_components(raw: Record, rules: RoleRules, s: str, p: str) -> dict[str, float]:
    """The documented cost components of a pair, weighted, from the raw document."""
    w = {**WEIGHT_DEFAULTS, **raw["policy"].get("weights", {})}
    sch, rec = rules.schools[s], rules.partners[p]
    wanted = dict(raw["hub"].get("priority_sectors", {})) | dict.fromkeys(sch.get("sectors", []), 1.0)
    fit = max((wanted.get(x, 0.0) for x in rec.get("sectors", [])), default=0.0)
    currents = sch.get("current_advisers", []) if rules.role == "adviser" else sch.get("current_cornerstones", [])
    current = p in currents
    return {
        "distance": w["distance"] * rules.km(s, p) / rules.radius[p],
        "sector": w["sector"] * (1.0 - fit),
        "need": w["need"] * (1.0 - need(sch, rules.role)),
        "continuity": -w["continuity"] if current else 0.0,
    }


def cost_faults(raw: Record, problem: Problem, solution: Solution) -> list[str]:
    """Property 4: the objective is the sum of the assignments' costs; each cost is its components' sum rounded to
    thousandths (the core's integer units), and each component is the documented one."""
    out = []
    for role in ROLES:
        if not any(a.role == role for a in solution.assignments):
            continue
        rules, units = rules_of(raw, role), unit_costs(problem, role_input(problem, role))
        for a in (a for a in solution.assignments if a.role == role):
            k = (a.school, a.partner)
            if round(a.cost * 1000) != units[k] or abs(a.cost - units[k] / 1000) > 1e-12:
                out.append(f"{k} costs {a.cost}, its units are {units[k]}")
            if abs(a.cost - sum(a.components.values())) > HALF_UNIT + 1e-9:
                out.append(f"{k} costs {a.cost} but its components add up to {sum(a.components.values())}")
            want = expected_components(raw, rules, *k)
            if set(a.components) - set(want):
                out.append(f"{k} has unexpected components {sorted(set(a.components) - set(want))}")
            out += [
                f"{k} {name} is {a.components.get(name, 0.0)!r}, expected {value!r}"
                for name, value in want.items()
                if abs(a.components.get(name, 0.0) - value) > 1e-9
            ]
            if a.distance_km is None or abs(a.distance_km - rules.km(*k)) > KM_TOL:
                out.append(f"{k} distance_km {a.distance_km}, expected {rules.km(*k)}")
            if a.locked != (k in rules.locked):
                out.append(f"{k} locked flag is {a.locked}")
    total = sum(a.cost for a in solution.assignments)
    if abs(solution.objective - total) > 1e-9 or round(solution.objective * 1000) != sum(
        round(a.cost * 1000) for a in solution.assignments
    ):
        out.append(f"objective {solution.objective!r} but the assignments cost {total!r}")
    return out


def unmatched_faults(raw: Record, solution: Solution) -> list[str]:
    """Property 6: each open slot has a documented reason that holds, and there is one entry per open slot."""
    out = []
    counts = Counter((u.school, u.role) for u in solution.unmatched)
    role_status = solution.stats.get("role_status", {})
    for role in ROLES:
        rules = rules_of(raw, role)
        choice = role_choice(solution, role)
        have = Counter(s for s, _ in choice)
        out += [
            f"{s} {role}: {counts[s, role]} unmatched entries, {rules.slots} slots, {have[s]} partners"
            for s in rules.schools
            if counts[s, role] != rules.slots - have[s]
        ]
        for u in (u for u in solution.unmatched if u.role == role):
            if u.reason not in REASONS:
                out.append(f"{u.school} {role}: undocumented reason {u.reason!r} ({u.detail})")
            elif u.reason == "not_reached" and role_status.get(role) == "optimal":
                out.append(f"{u.school} {role}: not_reached although the role is proven optimal")
            elif not reason_holds(rules, choice, u.school, u.reason):
                out.append(f"{u.school} {role}: reason {u.reason!r} does not hold ({u.detail})")
    return out


def reason_holds(rules: RoleRules, choice: set[PairKey], s: str, reason: str) -> bool:
    """The stated reason, checked against the rules restated in helpers and the solution's choice."""
    locked_here = any(t == s for t, _ in rules.locked)
    reach = {p for p in rules.partners if rules.km(s, p) <= rules.radius[p] + KM_TOL}
    if reason == "out_of_reach":
        return not locked_here and all(rules.km(s, p) > rules.radius[p] - KM_TOL for p in rules.partners)
    if reason == "blocked_by_rule":
        return not locked_here and bool(reach) and all(rules.barred(s, p) for p in reach)
    used: Counter[str] = Counter()
    for t, p in choice:
        used[p] += rules.load(t, p)
    others = {p for t, p in rules.candidates() if t == s and (t, p) not in choice}
    with_room = {p for p in others if rules.capacity(p) - used[p] + LOAD_TOL >= rules.load(s, p)}
    if reason == "partners_full":
        return not with_room
    if reason == "company_cap":
        per_company = Counter(rules.company(p) for _, p in choice)
        return (
            rules.company_cap is not None
            and bool(with_room)
            and all(per_company[rules.company(p)] >= rules.company_cap for p in with_room)
        )
    if reason == "sector_taken":
        return rules.distinct and bool(with_room)
    return reason == "not_reached"


def rule_faults(raw: Record, solution: Solution) -> list[str]:
    """Properties 1-3 for both roles of a solution."""
    out = []
    for role in ROLES:
        rules, choice = rules_of(raw, role), role_choice(solution, role)
        if choice - set(itertools.product(rules.schools, rules.partners)):
            out.append(f"{role} pairs name unknown records: {sorted(choice)}")
            continue
        out += [f"{role}: {f}" for f in capacity_faults(rules, choice) + reach_faults(rules, choice)]
        out += [f"{role}: {f}" for f in locked_faults(rules, choice)]
    return out


def check_solution(raw: Record, problem: Problem, solution: Solution) -> None:
    """Properties 1-4 and 6 of one solved document."""
    assert solution.status in ("optimal", "feasible", "unknown")
    event(f"status {solution.status}")
    for reason in sorted({u.reason for u in solution.unmatched}):
        event(f"reason {reason}")
    faults = rule_faults(raw, solution) + cost_faults(raw, problem, solution) + unmatched_faults(raw, solution)
    assert faults == [], faults


def role_faults(raw: Record, problem: Problem, role: str, res: RoleResult) -> list[str]:
    """Properties 1-3 for one role's solver result, and its cost units against its choice."""
    inp = role_input(problem, role)
    rules, choice = rules_of(raw, role), chosen_pairs(problem, inp, res.chosen)
    units = unit_costs(problem, inp)
    out = capacity_faults(rules, choice) + reach_faults(rules, choice) + locked_faults(rules, choice)
    if res.cost_units != sum(units[k] for k in choice):
        out.append(f"{res.solver} reports {res.cost_units} cost units for a choice of {sum(units[k] for k in choice)}")
    return [f"{role} {res.solver}: {f}" for f in out]


def without_timings(solution: Solution) -> tuple:
    stats = {k: v for k, v in solution.stats.items() if not k.endswith("_seconds")}
    return solution.status, solution.objective, solution.bound, solution.assignments, solution.unmatched, stats


# --- the tests ----------------------------------------------------------------------------------------------------


def front_door(raw: Record, solver: str = "auto") -> None:
    problem = load_problem(raw)
    solution = solve(problem, solver=solver, time_limit_s=TIME_LIMIT_S)
    check_solution(raw, problem, solution)


@settings(max_examples=60, **BASE)
@given(documents())
def test_front_door_keeps_every_rule_and_explains_every_open_slot(raw: Record) -> None:
    """Properties 1-4 and 6 through ``matcher.solve`` (auto: the flow where it applies, else the MIP)."""
    front_door(raw)


@settings(max_examples=25, **BASE)
@given(documents(max_schools=8, max_advisers=6, max_employers=4), st.sampled_from(["mip", "cpsat"]))
def test_integer_solvers_keep_every_rule_through_the_front_door(raw: Record, solver: str) -> None:
    """Properties 1-4 and 6 with the MIP or CP-SAT forced on both roles (small rounds)."""
    front_door(raw, solver)


# SCIP through pywraplp stops at OR-Tools' default relative MIP gap (1e-4) and still reports OPTIMAL, so the MIP can
# call "optimal" a coverage up to 1e-4 short: here a need tenth; the allowed loss grows with the round (with two slots
# a school it passes a whole slot from about 70 schools). Employer e2 can take s6 (need 0.8) or s7 (need 0.7): the
# flow and CP-SAT give it to s6 (coverage 11565); the MIP "proves" s7 (11564, within 1e-4 of 11565). Found by
# test_flow_and_mip_agree_where_the_flow_applies; reduced from Hypothesis' example.
_GAP_SCHOOLS = [
    ("s0", 53.77, -2.70, 28),
    ("s3", 53.82, -2.70, None),
    ("s4", 53.54, -2.68, None),
    ("s5", 53.89, -2.69, None),
    ("s6", 53.74, -2.72, 32),
    ("s7", 53.75, -2.68, 28),
    ("s8", 53.74, -2.70, None),
    ("s9", 53.77, -2.67, None),
    ("s10", 53.76, -2.57, None),
    ("s11", 53.75, -2.58, None),
    ("s12", 53.75, -2.51, None),
    ("s13", 53.75, -2.61, None),
]
MIP_STOPS_SHORT = document(
    [school(sid, lat, lon, **({} if fsm is None else {"pct_fsm": fsm})) for sid, lat, lon, fsm in _GAP_SCHOOLS],
    [],
    [
        employer("e2", [(53.75, -2.33)], capacity=1.5),
        employer("e3", [(53.78, -2.65)], capacity=1),
        employer("e5", [(53.74, -2.72)], capacity=2.5),
    ],
    pairs=[{"school": "s9", "partner": "e5", "load": 2.0, "locked": True}],
    advisers_per_school=0,
    cornerstones_per_school=2,
)


def test_the_mip_reaches_the_optimum_it_reports() -> None:
    """Property 5 on MIP_STOPS_SHORT (fails today: the MIP stops at a 1e-4 relative gap and calls it optimal)."""
    problem = load_problem(MIP_STOPS_SHORT)
    inp = role_input(problem, "cornerstone")
    found = {name: solve_role(inp, name, TIME_LIMIT_S) for name in ("flow", "mip", "cpsat")}
    assert {name: r.status for name, r in found.items()} == dict.fromkeys(found, "optimal")
    assert {name: (r.coverage, r.cost_units) for name, r in found.items()} == dict.fromkeys(found, (11565, 3128))


@settings(max_examples=80, **BASE)
@given(documents(flow_only=True))
def test_flow_and_mip_agree_where_the_flow_applies(raw: Record) -> None:
    """Property 5: the min-cost flow and the MIP find the same coverage and cost units, per role."""
    problem = load_problem(raw)
    for role in ROLES:
        if not rules_of(raw, role).slots:
            continue
        inp = role_input(problem, role)
        flow, mip = solve_role(inp, "flow", TIME_LIMIT_S), solve_role(inp, "mip", TIME_LIMIT_S)
        assert flow.status == "optimal"
        assert role_faults(raw, problem, role, flow) + role_faults(raw, problem, role, mip) == []
        event(f"mip {mip.status}")
        if mip.status == "optimal":
            assert (flow.coverage, flow.cost_units) == (mip.coverage, mip.cost_units), role
        else:  # the MIP ran out of time: it may only be worse
            assert (mip.coverage, -mip.cost_units) <= (flow.coverage, -flow.cost_units), role


@settings(max_examples=25, **BASE)
@given(documents(max_schools=8, max_advisers=6, max_employers=4))
def test_mip_and_cpsat_agree_when_both_prove_optimality(raw: Record) -> None:
    """Property 5: on small rounds (loads and distinct sectors included) the MIP and CP-SAT agree when both prove
    their answer, and the flow agrees with them wherever it applies."""
    problem = load_problem(raw)
    for role in ROLES:
        if not rules_of(raw, role).slots:
            continue
        inp = role_input(problem, role)
        found = {name: solve_role(inp, name, TIME_LIMIT_S) for name in ("mip", "cpsat")}
        try:
            found["flow"] = solve_role(inp, "flow", TIME_LIMIT_S)
        except SolverUnsuitable:
            assert not inp.unit_loads() or (inp.distinct_sectors and inp.graph.slots > 1)
        assert [f for res in found.values() for f in role_faults(raw, problem, role, res)] == []
        proven = {name: (r.coverage, r.cost_units) for name, r in found.items() if r.status == "optimal"}
        event(f"{role}: proven by {sorted(proven)}")
        assert len(set(proven.values())) <= 1, (role, proven)


@st.composite
def tight_packings(draw: st.DrawFn) -> Record:
    """Cornerstone rounds where everything is in reach and only the places decide: 2-8 schools with loads of 1-4
    (mostly in hundredths) and 1-3 employers whose places (also in hundredths) fit a few of them; the knapsack-like
    core of the generalised assignment, where rounding a load or a capacity shows."""
    near = st.tuples(st.integers(-2_000, 2_000), st.integers(-3_000, 3_000)).map(
        lambda c: (round(CENTRE[0] + c[0] / 100_000, 5), round(CENTRE[1] + c[1] / 100_000, 5))
    )
    hundredths = st.integers(100, 400).map(lambda c: c / 100)
    n_s, n_e = draw(st.integers(2, 8)), draw(st.integers(1, 3))
    schools = [
        school(f"s{i}", *draw(near), load=draw(hundredths), pct_fsm=draw(FSM), sectors=draw(SECTOR_LIST))
        for i in range(n_s)
    ]
    employers = [
        employer(f"e{j}", [draw(near)], capacity=draw(st.integers(100, 800)) / 100, sectors=draw(PARTNER_SECTORS))
        for j in range(n_e)
    ]
    return document(
        schools,
        [],
        employers,
        advisers_per_school=0,
        cornerstones_per_school=draw(st.integers(1, 2)),
        distinct_sectors=draw(st.booleans()),
        default_max_travel_km=40,
    )


# Random rounds rarely leave room only in a sector the school already has; this one always does.
SECTOR_TAKEN = document(
    [school("s0", *CENTRE)],
    [],
    [employer("e0", [CENTRE], sectors=["digital"]), employer("e1", [CENTRE], sectors=["digital", "health"])],
    advisers_per_school=0,
    cornerstones_per_school=2,
    distinct_sectors=True,
)


@settings(max_examples=40, **BASE)
@example(SECTOR_TAKEN)
@given(tight_packings())
def test_mip_and_cpsat_agree_on_tight_packings(raw: Record) -> None:
    """Property 5 where it is hardest: fractional loads against fractional places (and 1-4, 6 on the same rounds,
    where distinct sectors often leave a slot open with room only in a sector the school already has)."""
    front_door(raw)
    problem = load_problem(raw)
    inp = role_input(problem, "cornerstone")
    found = [solve_role(inp, name, TIME_LIMIT_S) for name in ("mip", "cpsat")]
    assert [f for res in found for f in role_faults(raw, problem, "cornerstone", res)] == []
    proven = {res.solver: (res.coverage, res.cost_units) for res in found if res.status == "optimal"}
    event(f"proven by {sorted(proven)}")
    assert len(set(proven.values())) <= 1, proven


def with_twins(raw: Record) -> Record:
    """The round with a twin of every partner (same place, company, sectors, capacity; no pairs of its own): ties
    that only a deterministic tie-break settles the same way twice."""
    return {
        **raw,
        "advisers": raw["advisers"] + [{**a, "id": f"{a['id']}t"} for a in raw["advisers"]],
        "employers": raw["employers"] + [{**e, "id": f"{e['id']}t"} for e in raw["employers"]],
    }


SOLVED_BY = st.one_of(
    st.tuples(documents(max_advisers=10, max_employers=4).map(with_twins), st.just("auto")),
    st.tuples(
        documents(max_schools=8, max_advisers=4, max_employers=3).map(with_twins), st.sampled_from(["mip", "cpsat"])
    ),
)


@settings(max_examples=25, **BASE)
@given(SOLVED_BY)
def test_solving_twice_gives_identical_solutions(case: tuple[Record, str]) -> None:
    """Property 7: the same problem solved twice gives the same assignments, reasons and statistics (timings aside);
    a solver stopped by its time limit may legitimately stop elsewhere, so only proven solutions are compared."""
    raw, solver = case
    first = solve(load_problem(raw), solver=solver, time_limit_s=TIME_LIMIT_S)
    second = solve(load_problem(raw), solver=solver, time_limit_s=TIME_LIMIT_S)
    event(f"{solver} {first.status}")
    if first.status == second.status == "optimal":
        assert without_timings(first) == without_timings(second)


# A Cornerstone pair with a load of its own, beyond its employer's reach: valid (the format allows a load on any
# pair), but ``matcher.candidates._loads`` assigns the loads of *all* such pairs to the positions of those that are
# candidates, so with two or more loaded pairs and one of them out of reach the solve raises ValueError.
LOAD_OUT_OF_REACH = document(
    [school("s0", *CENTRE)],
    [],
    [employer("e0", [north(50)], capacity=4), employer("e1", [north(50)], capacity=4)],
    pairs=[{"school": "s0", "partner": "e0", "load": 2}, {"school": "s0", "partner": "e1", "load": 2}],
    advisers_per_school=0,
)


@settings(max_examples=20, **BASE)
@example(LOAD_OUT_OF_REACH)
@given(documents(max_schools=10, max_advisers=4, max_employers=4, loads_anywhere=True))
def test_a_load_on_any_pair_is_accepted(raw: Record) -> None:
    """Properties 1-4 and 6 when pairs out of reach carry loads too (fails today: see LOAD_OUT_OF_REACH)."""
    front_door(raw)


@pytest.mark.slow
@settings(max_examples=300, **BASE)
@given(st.one_of(documents(), documents(flow_only=True)))
def test_front_door_keeps_every_rule_on_many_rounds(raw: Record) -> None:
    """Properties 1-4 and 6 (and 5: flow against MIP wherever the flow applies), five times the examples."""
    front_door(raw)
    problem = load_problem(raw)
    for role in ROLES:
        if not rules_of(raw, role).slots:
            continue
        inp = role_input(problem, role)
        try:
            flow = solve_role(inp, "flow", TIME_LIMIT_S)
        except SolverUnsuitable:
            continue
        mip = solve_role(inp, "mip", TIME_LIMIT_S)
        if mip.status == "optimal":
            assert (flow.coverage, flow.cost_units) == (mip.coverage, mip.cost_units), role
