"""Target 6: a newcomer mid-term (``matcher.recommend``) in under 50 ms on a hub and under a second nationally,
beside a full incremental re-solve of the same role with the newcomer added, measured in the same run.

Each row times ``recommend(problem, solution, newcomer, top=3)`` for one role over several random newcomers placed
near random schools (advisers of capacity 1 or 2, schools), and the baseline ``solve_role`` of the role after
``with_previous`` (the graph, costs and the exact solver, as ``hubmatch solve --previous`` runs them). "exact"
counts the newcomers whose first recommendation has the re-solve's coverage and cost units to the unit.
"""

from __future__ import annotations

import random
from typing import Any

from common import Config, Table, median, ratio, timed, verdict

import fixtures
from matcher import solve
from matcher.recommend import recommend, with_newcomer
from matcher.solve import role_input, with_previous
from matcher.solvers import solve_role
from models import Problem, Solution, load_problem
from models.newcomers import load_newcomer

TARGET_S = {"Lancashire": 0.05, "national": 1.0}
TOP = 3


def run(cfg: Config) -> tuple[Table, dict[str, Any]]:
    """Recommend and re-solve on the Lancashire hub and on the national round, per newcomer kind and role."""
    table = Table("6. Newcomer mid-term: matcher.recommend beside a full incremental re-solve of the role (medians)",
                  ["round", "newcomer", "role", "method", "newcomers", "recommend s", "re-solve s", "ratio",
                   "shared s", "target s", "verdict", "exact"])
    raw: dict[str, Any] = {}
    rounds = {"Lancashire": fixtures.lancashire_problem, "national": lambda: fixtures.national_problem(*cfg.national)}
    for name, build in rounds.items():
        problem = load_problem(build())
        solution = solve(problem)
        count = 3 if cfg.quick or name == "national" else 8
        for kind in ("adviser", "school"):
            newcomers = [_newcomer(problem, kind, seed) for seed in range(count)]
            for role in _roles(problem, kind):
                row = _row(problem, solution, newcomers, role, max(cfg.repeats, 3 if name == "national" else 5))
                raw[f"{name}/{kind}/{role}"] = row
                table.add(name, kind, role, row["method"], count, row["recommend_s"], row["resolve_s"],
                          ratio(row["recommend_s"], row["resolve_s"]), row["shared_s"], TARGET_S[name],
                          verdict(row["recommend_s"], TARGET_S[name]), f"{row['exact']}/{count}")
    table.notes.append("recommend s: median over newcomers x repeats of recommend() for that role, top 3, in "
                       "process (the graph and costs of the round with the newcomer included); re-solve s: "
                       "with_previous + role_input + solve_role('auto') of the same role with the newcomer.")
    table.notes.append("shared s: what both take first, with_previous + role_input (the candidate graph and costs "
                       "of the round with the newcomer); the rest of recommend s is the network, its residual and "
                       "the shortest paths, the rest of re-solve s the OR-Tools flow.")
    table.notes.append("Lancashire's Cornerstone role needs distinct sectors for its two slots: not a flow, so "
                       "recommend answers it by a re-solve (method re-solve) and its row measures that.")
    return table, raw


def _roles(problem: Problem, kind: str) -> tuple[str, ...]:
    if kind == "adviser":
        return ("adviser",)
    return tuple(r for r, n in (("adviser", problem.policy.advisers_per_school),
                                ("cornerstone", problem.policy.cornerstones_per_school)) if n)


def _newcomer(problem: Problem, kind: str, seed: int) -> Any:
    rng = random.Random(seed)
    near = problem.schools[rng.randrange(len(problem.schools))]
    lat, lon = near.lat + rng.uniform(-0.05, 0.05), near.lon + rng.uniform(-0.08, 0.08)
    if kind == "adviser":
        record = {"id": f"NEW-{seed}", "company": "New Co", "lat": lat, "lon": lon, "capacity": rng.choice([1, 2])}
    else:
        record = {"id": f"NEW-{seed}", "name": f"New school {seed}", "lat": lat, "lon": lon,
                  "pct_fsm": rng.uniform(0, 50)}
    return load_newcomer(kind, record, problem)


def _row(problem: Problem, solution: Solution, newcomers: list[Any], role: str, repeats: int) -> dict[str, Any]:
    rec_s, resolve_s, exact, methods = [], [], 0, set()
    for newcomer in newcomers:
        for _ in range(repeats):
            [found], seconds = timed(lambda n=newcomer: recommend(problem, solution, n, TOP, roles=(role,)))
            rec_s.append(seconds)
        joined = with_previous(with_newcomer(problem, newcomer), solution)
        for _ in range(repeats):
            full, seconds = timed(lambda j=joined: solve_role(role_input(j, role), "auto", 60.0))  # type: ignore[arg-type]
            resolve_s.append(seconds)
        first = found.placements[0]
        exact += (found.base_coverage + first.coverage, found.base_cost_units + first.cost_units) == (
            full.coverage, full.cost_units)
        methods.add(found.method)
    resolve_median = median(resolve_s)
    # the baseline's with_previous is the same step recommend takes first; time it once per newcomer too
    prep = median([timed(lambda n=n: with_previous(with_newcomer(problem, n), solution))[1] for n in newcomers])
    shared = median([timed(lambda n=n: role_input(with_previous(with_newcomer(problem, n), solution), role))[1]  # type: ignore[arg-type]
                     for n in newcomers])
    return {"method": "/".join(sorted(methods)), "recommend_s": median(rec_s), "resolve_s": resolve_median + prep,
            "shared_s": shared, "exact": exact, "samples": {"recommend": rec_s, "resolve": resolve_s}}
