"""Section gaps: where to recruit (``matcher.gaps``) on a hub and on the national round, beside one full solve of
the same round in the same run.

The search is of both roles with the defaults a Hub Lead gets (the hub's most common capacity, the policy's
radius, five places in sequence): each place judged given the recruits above it and verified by re-solving its
role, so its cost is a handful of role solves plus the bounds that skip every other candidate place.
"""

from __future__ import annotations

from typing import Any

from common import Config, Table, median, ratio, timed, verdict

import fixtures
from matcher import solve
from matcher.gaps import default_recruit, find_gaps
from models import Problem, load_problem
from models.domain import ROLES

TARGET_S = {"Lancashire": 1.0, "Cumbria": 1.0, "national": 60.0}


def run(cfg: Config) -> tuple[Table, dict[str, Any]]:
    table = Table(
        "Recruitment gaps: matcher.gaps (both roles, top 5 in sequence) beside one matcher.solve, median seconds",
        ["round", "schools", "without adv/cs", "candidates adv/cs", "re-solves adv/cs", "places adv/cs",
         "gaps s", "solve s", "gaps/solve", "target s", "verdict"],
    )
    raw: dict[str, Any] = {}
    rounds = {"Lancashire": fixtures.lancashire_problem, "Cumbria": fixtures.cumbria_problem,
              "national": lambda: fixtures.national_problem(*cfg.national)}
    for name, build in rounds.items():
        problem = load_problem(build())
        repeats = cfg.repeats if name == "national" else max(cfg.repeats, 5)
        row, raw[name] = _row(problem, repeats)
        table.add(name, len(problem.schools), *row, TARGET_S[name], verdict(raw[name]["gaps_s"], TARGET_S[name]))
    table.notes.append("gaps s: find_gaps of the adviser role and of the Cornerstone role, in process (the problem "
                       "loaded); solve s: matcher.solve of the same round; re-solves: role solves with a recruit "
                       "added, out of the candidate places the bounds ranked.")
    return table, raw


def _row(problem: Problem, repeats: int) -> tuple[list[Any], dict[str, Any]]:
    searches, gap_times = [], []
    for _ in range(repeats):
        found, seconds = timed(lambda: [find_gaps(problem, r, default_recruit(problem, r, None, None)) for r in ROLES])
        searches, gap_times = found, [*gap_times, seconds]
    solve_s = median([timed(lambda: solve(problem))[1] for _ in range(repeats)])
    gaps_s = median(gap_times)

    def pair(values: list[int]) -> str:
        return "/".join(str(v) for v in values)

    row = [pair([len(s.uncovered) for s in searches]), pair([s.candidates for s in searches]),
           pair([s.resolves for s in searches]), pair([len(s.places) for s in searches]), gaps_s, solve_s,
           ratio(gaps_s, solve_s)]
    return row, {"gaps_s": gaps_s, "solve_s": solve_s, "runs_s": gap_times,
                 "covers": {s.role: [p.covers for p in s.places] for s in searches}}
