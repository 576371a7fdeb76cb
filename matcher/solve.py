"""The front door of the core: ``solve(problem) -> Solution``, one role after the other.

The two roles (Enterprise Advisers, Cornerstone Employers) share no constraint, so each is its own exact problem;
solving them apart keeps each on the fastest exact solver its rules allow. Nothing here reads files or prints.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from matcher import explain
from matcher.candidates import build_graph
from matcher.costs import SCALE, score
from matcher.objective import slot_values
from matcher.progress import Progress, Steps, band, silent
from matcher.solvers import RoleInput, RoleResult, solve_role
from models.domain import ROLES, Assignment, Idle, Problem, Role, Solution, Unmatched

_RANK = {"optimal": 0, "feasible": 1, "unknown": 2}
# The share of a role's progress each part takes, as measured on national rounds: the solve is nine tenths of it
# (at 20,000 schools 1.1 s of candidates and costs, 13 s of flows, 0.2 s of explanations).
BUILT, SOLVED = 0.08, 0.95


def solve(
    problem: Problem,
    *,
    solver: str = "auto",
    time_limit_s: float | None = None,
    previous: Solution | None = None,
    alternatives: int = 3,
    progress: Progress = silent,
) -> Solution:
    """Match the problem's schools to advisers and Cornerstone Employers, exactly where the time limit allows.

    Parameters
    ----------
    problem: a validated Problem (``models.load_problem``).
    solver: "auto" (flow where the rules allow, else the MIP seeded by the flow), "flow", "cpsat" or "mip".
    time_limit_s: overrides ``policy.time_limit_s``; only CP-SAT and the MIP can be stopped by it.
    previous: an earlier solution; its pairings become the current ones, so they are kept unless changing them
        gains more than the continuity weight (an incremental re-solve).
    alternatives: how many next-best partners to list with each assignment.
    progress: told, as ``(fraction, stage)``, each step as it starts (``matcher.progress``); last ``(1.0, ...)``.
    """
    started = time.perf_counter()
    if previous is not None:
        problem = with_previous(problem, previous)
    limit = time_limit_s or problem.policy.time_limit_s
    found: list[Assignment] = []
    left: list[Unmatched] = []
    idle: list[Idle] = []
    engaged: dict[str, int] = {}
    results: dict[str, RoleResult] = {}
    build_s = 0.0
    for role, part in _parts(problem, progress):
        noun = explain.ROLE_WORD[role][1]
        part(0.0, f"{noun}: finding candidates")
        t0 = time.perf_counter()
        inp = role_input(problem, role)
        build_s += time.perf_counter() - t0
        steps = Steps(band(part, BUILT, SOLVED), f"{noun}: ")
        res = solve_role(inp, solver, max(limit - (time.perf_counter() - started), 1.0), step=steps)
        results[role] = res
        part(SOLVED, f"{noun}: explaining")
        found += explain.assignments(problem, inp, res.chosen, alternatives)
        left += explain.unmatched(problem, inp, res.chosen, proven=res.status == "optimal")
        role_idle = explain.idle(problem, inp, res.chosen, proven=res.status == "optimal")
        idle += role_idle
        engaged[role] = int(np.unique(inp.graph.partner[res.chosen]).size)
    solution = _solution(problem, results, found, left, build_s, time.perf_counter() - started)
    progress(1.0, "matched")
    return dataclasses.replace(solution, idle=tuple(idle), stats={**solution.stats, **_engagement(engaged, idle)})


def _parts(problem: Problem, progress: Progress) -> list[tuple[Role, Progress]]:
    """The roles to solve, each with its band of ``progress``, as wide as its share of the partners (their
    candidates, which set the time, grow with them)."""
    roles = [role for role in ROLES if _slots(problem, role) > 0]
    sizes = {"adviser": len(problem.advisers), "cornerstone": len(problem.employers)}
    total = sum(sizes[role] for role in roles) or 1
    parts, start = [], 0.0
    for role in roles:
        end = start + sizes[role] / total
        parts.append((role, band(progress, start, end)))
        start = end
    return parts


def _engagement(engaged: dict[str, int], idle: list[Idle]) -> dict[str, int]:
    """``advisers_engaged`` / ``advisers_idle`` and the employers' pair: partners with a school, and willing
    partners without one (unavailable advisers and partners with no capacity are neither)."""
    out = {}
    for role, name in (("adviser", "advisers"), ("cornerstone", "employers")):
        if role in engaged:
            out[f"{name}_engaged"] = engaged[role]
            out[f"{name}_idle"] = sum(1 for i in idle if i.role == role)
    return out


def role_input(problem: Problem, role: Role) -> RoleInput:
    """Candidates, costs and coverage values of one role, ready for any solver."""
    graph = build_graph(problem, role)
    costs = score(problem, graph)
    return RoleInput(graph, costs, slot_values(graph, costs), distinct_sectors=problem.policy.distinct_sectors)


def with_previous(problem: Problem, previous: Solution) -> Problem:
    """The problem with the previous solution's pairings as each school's current partners (and none for a school
    the previous solution left without one: last year's partner of an unmatched school is not this year's)."""
    current: dict[tuple[str, str], list[str]] = {}
    for a in previous.assignments:
        current.setdefault((a.school, a.role), []).append(a.partner)  # every partner of the role, not the first
    schools = tuple(
        dataclasses.replace(
            s,
            current_advisers=tuple(current.get((s.id, "adviser"), ())),
            current_cornerstones=tuple(current.get((s.id, "cornerstone"), ())),
        )
        for s in problem.schools
    )
    return dataclasses.replace(problem, schools=schools)


def _slots(problem: Problem, role: Role) -> int:
    """The most partners of the role any school of the problem takes (0: the role is switched off)."""
    kinds = {s.kind for s in problem.schools} or {"mainstream"}
    return problem.policy.max_slots(role, kinds)


def _solution(
    problem: Problem,
    results: dict[str, RoleResult],
    found: list[Assignment],
    left: list[Unmatched],
    build_s: float,
    total_s: float,
) -> Solution:
    status = max((r.status for r in results.values()), key=_RANK.__getitem__, default="optimal")
    objective = sum(r.cost_units for r in results.values()) / SCALE
    bound = sum(r.bound_units for r in results.values()) / SCALE
    gap = 0.0 if status == "optimal" else abs(objective - bound) / max(abs(objective), 1e-9)
    stats = {
        "candidates": {role: int(r.chosen.size) for role, r in results.items()},
        "solver": {role: r.solver for role, r in results.items()},
        "role_status": {role: r.status for role, r in results.items()},
        "coverage": {role: r.coverage for role, r in results.items()},
        "solve_seconds": round(sum(r.seconds for r in results.values()), 4),
        "build_seconds": round(build_s, 4),
        "total_seconds": round(total_s, 4),
        "matched": {role: len({a.school for a in found if a.role == role}) for role in results},
        "mean_travel_km": {role: _mean_km(found, role) for role in results},
        **_changes(problem, found),
    }
    return Solution(
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        assignments=tuple(found),
        unmatched=tuple(left),
        stats=stats,
    )


def _mean_km(found: list[Assignment], role: str) -> float | None:
    km = [a.distance_km for a in found if a.role == role and a.distance_km is not None]
    return round(float(np.mean(km)), 2) if km else None


def _changes(problem: Problem, found: list[Assignment]) -> dict[str, int]:
    """Pairings kept, changed (a current pairing dropped) and new (a school that had none in the role)."""
    current = {(s.id, "adviser", a) for s in problem.schools for a in s.current_advisers}
    current |= {(s.id, "cornerstone", c) for s in problem.schools for c in s.current_cornerstones}
    now = {(a.school, a.role, a.partner) for a in found}
    had = {(school, role) for school, role, _ in current}
    return {
        "kept_pairings": len(current & now),
        "changed_pairings": len(current - now),
        "new_pairings": len({p for p in now - current if (p[0], p[1]) not in had}),
    }
