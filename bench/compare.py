"""Section C: rules per kind of school and the comparison of two policies, beside a full solve in the same run.

Rules per kind are masks over the candidate arrays (``matcher.candidates``): building the candidate graph with them
should cost about what it costs without. ``matcher.compare`` reads two solutions: it should cost a small fraction of
the solves it compares. Each round is timed as it is and with a third of its schools made colleges (20 km; on the
hub also two advisers each) and alternative providers (an "ap" skill required, 15 km). The national round keeps one
adviser per school: with two, its lexicographic flow costs pass 64 bits and the round goes to the MIP, which takes
minutes there.
"""

from __future__ import annotations

import copy
from typing import Any

from common import Config, Table, median, ratio, timed

import fixtures
from matcher import solve
from matcher.candidates import build_graph
from matcher.compare import compare
from models import load_problem

KINDS = {
    "college": {"advisers_per_school": 2, "max_travel_km": 20},
    "ap": {"required_skills": ["ap"], "max_travel_km": 15},
}


def run(cfg: Config) -> Table:
    table = Table(
        "C. Rules per kind and policy comparison: seconds, median over repeats",
        [
            "round",
            "schools",
            "graph s",
            "graph s, kinds",
            "kinds/plain",
            "solve s",
            "solve s, kinds",
            "compare s",
            "compare/solve",
        ],
    )
    rounds = {"Lancashire": fixtures.lancashire_problem(), "national": fixtures.national_problem(*cfg.national)}
    for name, raw in rounds.items():
        kinds = KINDS if name != "national" else {**KINDS, "college": {"max_travel_km": 20}}
        repeats = cfg.repeats if name == "national" else max(cfg.repeats, 5)
        table.add(name, len(raw["schools"]), *_row(raw, kinds, repeats))
    table.notes.append(
        "graph s: matcher.candidates.build_graph of the adviser role; solve s: matcher.solve; compare s: "
        "matcher.compare of the round as it is against it with the kinds (both solved beforehand)."
    )
    return table


def _with_kinds(raw: dict[str, Any], kinds: dict[str, Any]) -> dict[str, Any]:
    """Every third school a college or an alternative provider, every other adviser with the "ap" skill."""
    out = copy.deepcopy(raw)
    for i, s in enumerate(out["schools"]):
        s["kind"] = {0: "college", 3: "ap"}.get(i % 6, s.get("kind", "mainstream"))
    for j, a in enumerate(out["advisers"]):
        if j % 2:
            a["skills"] = [*a.get("skills", []), "ap"]
    out["policy"] = {**out["policy"], "kinds": kinds}
    return out


def _row(raw: dict[str, Any], rules: dict[str, Any], repeats: int) -> list[Any]:
    plain, kinds = load_problem(raw), load_problem(_with_kinds(raw, rules))
    graph = [median([timed(lambda p=p: build_graph(p, "adviser"))[1] for _ in range(repeats)]) for p in (plain, kinds)]
    solved = [[timed(lambda p=p: solve(p)) for _ in range(repeats)] for p in (plain, kinds)]
    solve_s = [median([s for _, s in runs]) for runs in solved]
    a, b = (plain, solved[0][-1][0]), (kinds, solved[1][-1][0])
    compare_s = median([timed(lambda: compare(a, b))[1] for _ in range(repeats)])
    return [
        graph[0],
        graph[1],
        ratio(graph[1], graph[0]),
        solve_s[0],
        solve_s[1],
        compare_s,
        ratio(compare_s, solve_s[0]),
    ]
