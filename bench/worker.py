"""Measurements that need a fresh process: memory peaks, phase timings from interpreter start, time-limited baselines.

Each command prints one JSON object on its last stdout line for bench/run.py to read. A fresh process keeps one
measurement's heap (and a baseline's gigabytes) from leaking into the next, and its RSS is the solver's alone.

    python bench/worker.py phases PROBLEM OUT [--profile N]
    python bench/worker.py role PROBLEM {flow,cpsat,highs} [--limit S]
    python bench/worker.py lsa N {flow,scipy}
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402  (timed from the very first line: imports are part of the end-to-end cost)
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import memory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("phases")
    p.add_argument("problem", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--profile", type=int, default=0, help="also list the top N functions by own time (cProfile)")
    p.set_defaults(run=lambda a: phases(a.problem, a.output, a.profile))
    r = sub.add_parser("role")
    r.add_argument("problem", type=Path)
    r.add_argument("method", choices=("flow", "cpsat", "highs"))
    r.add_argument("--limit", type=float, default=60.0)
    r.set_defaults(run=lambda a: role(a.problem, a.method, a.limit))
    q = sub.add_parser("lsa")
    q.add_argument("n", type=int)
    q.add_argument("method", choices=("flow", "scipy"))
    q.set_defaults(run=lambda a: lsa(a.n, a.method))
    args = parser.parse_args()
    print(json.dumps(args.run(args)))


def phases(problem_path: Path, output: Path, top: int) -> dict[str, Any]:
    """The steps of ``hubmatch solve``, timed one by one (with cProfile's top costs when asked)."""
    if top:
        import cProfile

        profiler = cProfile.Profile()
        out = profiler.runcall(_phases, problem_path, output)
        out["profile"] = _top_rows(profiler, top)
        return out
    return _phases(problem_path, output)


def _phases(problem_path: Path, output: Path) -> dict[str, Any]:
    marks = {"start": STARTED}
    from hubmatch.cli import _read_json, _write_json  # the CLI's imports, reads and writes
    from matcher import solve
    from models import dump_solution, load_problem
    from models.collector import collector_paused

    marks["imports"] = time.perf_counter()
    with collector_paused():  # as `hubmatch solve` runs
        raw = _read_json(problem_path)
        marks["read JSON"] = time.perf_counter()
        problem = load_problem(raw)
        marks["validate (load_problem)"] = time.perf_counter()
        solution = solve(problem)
        marks["solve()"] = time.perf_counter()
        doc = dump_solution(solution)
        marks["dump_solution"] = time.perf_counter()
        _write_json(output, doc)
        marks["write JSON"] = time.perf_counter()
    names = list(marks)
    steps = {b: marks[b] - marks[a] for a, b in itertools.pairwise(names)}
    st = solution.stats
    inside = {"candidate graph + costs": st["build_seconds"], "solvers": st["solve_seconds"],
              "explanations (alternatives, unmatched)": st["total_seconds"] - st["build_seconds"]
              - st["solve_seconds"]}
    return {"steps": steps, "inside_solve": inside, "peak_mb": memory.peak_mb()}


def _top_rows(profiler: Any, top: int) -> list[dict[str, Any]]:
    """The top functions by own time, as rows (calls, own s, cumulative s, where)."""
    import pstats

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return [{"function": f"{Path(file).name}:{line}({name})", "calls": nc, "own_s": tt, "cum_s": ct}
            for (file, line, name), (_, nc, tt, ct, _) in rows]


def role(problem_path: Path, method: str, limit: float) -> dict[str, Any]:
    """The adviser role of a problem, by the flow or a naive baseline; reading and building are not timed."""
    import naive
    import numpy as np

    from matcher.objective import cost_unit
    from matcher.solve import role_input
    from matcher.solvers import solve_flow
    from models import load_problem

    inp = role_input(load_problem(json.loads(problem_path.read_text(encoding="utf-8"))), "adviser")
    memory.reset_peak()
    base = memory.rss_mb()
    if method == "flow":
        started = time.perf_counter()
        res = solve_flow(inp)
        out = {"method": "flow (matcher)", "status": res.status, "proven": res.status == "optimal", "build_s": 0.0,
               "solve_s": time.perf_counter() - started, "coverage": res.coverage, "cost_units": res.cost_units,
               "matched": int(np.unique(inp.graph.school[res.chosen]).size), "feasible": True, "bound": None}
    elif method == "cpsat":
        out = naive.solve_cpsat(inp, limit)
    else:
        out = naive.solve_highs(inp, limit)
    return {**out, "candidates": inp.graph.size, "unit": cost_unit(inp.costs, inp.values), "peak_mb": memory.peak_mb(),
            "base_mb": base}


def lsa(n: int, method: str) -> dict[str, Any]:
    """An n x n one-to-one round, everyone in reach, by the flow or by scipy's dense linear_sum_assignment."""
    import numpy as np

    from matcher.solve import role_input
    from matcher.solvers import solve_flow

    inp = role_input(square_problem(n), "adviser")
    memory.reset_peak()
    base = memory.rss_mb()
    started = time.perf_counter()
    if method == "flow":
        chosen = np.flatnonzero(solve_flow(inp).chosen)
        out = {"solve_s": time.perf_counter() - started, "fill_s": 0.0, "peak_mb": memory.peak_mb()}
    else:
        from scipy.optimize import linear_sum_assignment

        dense = np.full((n, n), _NOT_A_CANDIDATE, dtype=np.int64)
        dense[inp.graph.school, inp.graph.partner] = inp.costs.units
        filled = time.perf_counter()
        rows, cols = linear_sum_assignment(dense)
        out = {"solve_s": time.perf_counter() - filled, "fill_s": filled - started, "peak_mb": memory.peak_mb()}
        chosen = _positions(inp.graph.school * n + inp.graph.partner, rows * n + cols)
        out["non_candidates"] = int((chosen < 0).sum())
        chosen = chosen[chosen >= 0]
    return {**out, "candidates": inp.graph.size, "matched": len(chosen),
            "cost_units": int(inp.costs.units[chosen].sum()), "base_mb": base}


def _positions(keys: Any, wanted: Any) -> Any:
    """Positions of the wanted keys in the sorted candidate keys, -1 where a key is not a candidate."""
    import numpy as np

    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[pos] == wanted, pos, -1)


_NOT_A_CANDIDATE = 10**9


_REACH_KM = 200.0  # the longest reach the problem format accepts
_CENTRE = (52.9, -1.9)  # England's centre of mass, roughly
_SHRINK = 0.2  # England's 650 x 500 km become 130 x 100 km, every pair well within _REACH_KM


def square_problem(n: int) -> Any:
    """n schools, n advisers of capacity 1, everyone within reach of everyone, no rule that removes a pair."""
    import fixtures
    from models import load_problem

    raw = fixtures.national_problem(n, n, n_employers=1, seed=7, radius_km=_REACH_KM)
    raw["policy"].update(cornerstones_per_school=0, max_schools_per_company=None, needs_require_skills=False)
    for place in [*raw["schools"], *raw["advisers"]]:  # England's shape, shrunk until everyone is in reach
        place.update(lat=_CENTRE[0] + (place["lat"] - _CENTRE[0]) * _SHRINK,
                     lon=_CENTRE[1] + (place["lon"] - _CENTRE[1]) * _SHRINK)
    for adviser in raw["advisers"]:
        adviser.update(capacity=1, conflicts=[], unavailable=False, max_travel_km=None)
    raw["pairs"] = []
    return load_problem(raw)


if __name__ == "__main__":
    sys.exit(main())
