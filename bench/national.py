"""Target 2: a national round (5000 schools x 5000 advisers, 30 km, ~650k candidates) end to end in a fresh process,
under 2 s and 500 MB, with and without ``max_schools_per_company``; and naive CP-SAT / HiGHS baselines beside it.
The reference instance has advisers only; the same round with the fixture's 300 Cornerstone Employers is measured too.

End to end means what a user waits for: ``python -m hubmatch solve`` from process start to the solution file. The
fixture is written first and not timed. Peak memory is the command's own ``ru_maxrss`` from ``os.wait4`` in a small
launcher process (see ``launch``), so repeated children do not blur into one maximum as RUSAGE_CHILDREN would, and
the benchmark's own size does not leak into the figure.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from common import PYTHON, ROOT, Config, Table, median, ratio, timed, verdict, worker

import fixtures

E2E_TARGET_S = 2.0
MEMORY_TARGET_MB = 500.0
COMPANY_CAP = 3


def write_problems(cfg: Config, tmp: Path) -> dict[str, Path]:
    """The national fixture through the CLI (as a user would) and its variants: advisers only (the reference
    instance: 5,000 schools, 5,000 advisers, no Cornerstone role), with the company cap, and the baselines' one."""
    full = tmp / "national.json"
    subprocess.run([PYTHON, "-m", "hubmatch", "fixture", "national", "-o", str(full)], cwd=ROOT, check=True,
                   capture_output=True)
    raw = json.loads(full.read_text(encoding="utf-8"))
    n_schools, n_advisers = cfg.national
    if (len(raw["schools"]), len(raw["advisers"])) != (n_schools, n_advisers):
        raise RuntimeError(f"`hubmatch fixture national` no longer writes {n_schools} x {n_advisers}")
    n_employers = len(raw["employers"])
    advisers_only = {**raw, "employers": [], "policy": {**raw["policy"], "cornerstones_per_school": 0}}
    capped = {"max_schools_per_company": COMPANY_CAP}
    variants = {
        "advisers only": advisers_only,
        f"advisers only, cap {COMPANY_CAP}": {**advisers_only, "policy": {**advisers_only["policy"], **capped}},
        f"+ {n_employers} employers": raw,
        f"+ {n_employers} employers, cap {COMPANY_CAP}": {**raw, "policy": {**raw["policy"], **capped}},
    }
    files = {}
    for k, (name, doc) in enumerate(variants.items()):
        files[name] = tmp / f"national-{k}.json"
        files[name].write_text(json.dumps(doc), encoding="utf-8")
    if cfg.baseline_size != cfg.national:
        small = fixtures.national_problem(*cfg.baseline_size, max_schools_per_company=COMPANY_CAP)
        files["baseline"] = tmp / "national-baseline.json"
        files["baseline"].write_text(json.dumps(small), encoding="utf-8")
    else:
        files["baseline"] = files[f"+ {n_employers} employers, cap {COMPANY_CAP}"]
    return files


# Spawns the command from a small process and reports its wall time and peak. A child's ru_maxrss starts at the
# resident size of the process that forked it (Linux keeps the high-water mark across exec), so children spawned
# straight from this benchmark, which holds hundreds of MB by then, would all report at least that much.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def launch(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds from fork to exit of ``cmd`` and its peak RSS in MB (the maximum over it and the children it
    waited for), measured by a launcher of ~10 MB; raises when the command fails."""
    out = subprocess.run([PYTHON, "-c", _LAUNCHER, *cmd], cwd=ROOT, capture_output=True, text=True, check=True)
    wall, peak_kb, status = out.stdout.split()[-3:]
    if int(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with status {status}")
    return float(wall), int(peak_kb) / 1024


def end_to_end(path: Path, out: Path) -> dict[str, Any]:
    """Wall seconds from spawning ``python -m hubmatch solve`` to its exit, and its peak RSS."""
    wall, peak = launch([PYTHON, "-m", "hubmatch", "solve", str(path), "-o", str(out)])
    return {"wall_s": wall, "peak_mb": peak}


def validation_peak_mb(path: Path) -> float:
    """Peak RSS of ``hubmatch validate`` on the file: a bound on the child in which ``solve`` validates (it reads
    and validates the same document, and starts from no more than the parent had loaded when it forked)."""
    return launch([PYTHON, "-m", "hubmatch", "validate", str(path)])[1]


def run_e2e(cfg: Config, files: dict[str, Path], tmp: Path) -> tuple[Table, dict[str, Any]]:
    """Medians over repeats for each variant; the solution file supplies candidate counts and status."""
    table = Table(f"2a. National round end to end: python -m hubmatch solve, median of {cfg.repeats}",
                  ["variant", "schools", "advisers", "employers", "candidates adv", "candidates cs", "status",
                   "solve() s", "e2e s", "min s", "peak MB", "+ child MB", "target s", "time", "target MB",
                   "memory"])
    measured: dict[str, Any] = {}
    for variant in (v for v in files if v != "baseline"):
        out = tmp / "solution.json"
        runs = [end_to_end(files[variant], out) for _ in range(cfg.repeats)]
        sol = json.loads(out.read_text(encoding="utf-8"))
        raw = json.loads(files[variant].read_text(encoding="utf-8"))
        wall, peak = median([r["wall_s"] for r in runs]), median([r["peak_mb"] for r in runs])
        child = validation_peak_mb(files[variant])
        cand = sol["stats"]["candidates"]
        table.add(variant, len(raw["schools"]), len(raw["advisers"]), len(raw["employers"]), cand.get("adviser"),
                  cand.get("cornerstone"), sol["status"], sol["stats"]["total_seconds"], wall,
                  min(r["wall_s"] for r in runs), peak, child, E2E_TARGET_S, verdict(wall, E2E_TARGET_S),
                  MEMORY_TARGET_MB, verdict(peak + child, MEMORY_TARGET_MB))
        measured[variant] = {"wall_s": wall, "peak_mb": peak, "validation_child_mb": child, "runs": runs}
    table.notes.append("e2e = fork to exit of the command (solution file written); peak MB = the solving process's "
                       "ru_maxrss; solve() s = stats.total_seconds of the last run.")
    table.notes.append("the command validates its input in a forked child while it imports the solver "
                       "(hubmatch/overlap.py); + child MB bounds that child by `hubmatch validate`'s peak, and the "
                       "memory verdict is on the sum (the child exits before the solve, so the sum overstates).")
    return table, measured


def run_phases(cfg: Config, files: dict[str, Path], tmp: Path, e2e: dict[str, Any]) -> Table:
    """Where the end-to-end time goes, step by step, in a fresh process per run; medians over repeats."""
    start = median([timed(lambda: subprocess.run([PYTHON, "-c", "pass"], check=True))[1] for _ in range(3)])
    variants = [v for v in files if v != "baseline"]
    steps = {v: _median_steps([worker("phases", str(files[v]), str(tmp / "phases.json"))
                               for _ in range(cfg.repeats)]) for v in variants}
    table = Table(f"2b. Where the end-to-end time goes (bench/worker.py phases), median of {cfg.repeats}",
                  ["step", *[f"{v} s" for v in variants], "share"])
    rows = {"interpreter start (python -c pass)": [start] * len(variants)}
    for name in steps[variants[0]]:
        rows[name] = [steps[v][name] for v in variants]
    total = sum(v[0] for k, v in rows.items() if not k.startswith(" "))
    for name, values in rows.items():
        table.add(name, *values, f"{values[0] / total:.0%}")
    table.add("sum", *[sum(v[k] for n, v in rows.items() if not n.startswith(" ")) for k in range(len(variants))],
              "100%")
    table.add("measured e2e (2a median)", *[e2e[v]["wall_s"] for v in variants], "")
    table.notes.append("share is of the first variant's sum; 'of which' rows split solve() by its own stats.")
    table.notes.append("steps run one after another here; the command overlaps 'imports' with 'read JSON' and "
                       "'validate' in two processes, so its e2e can be below the sum.")
    return table


def _median_steps(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median seconds of each step (and of each part of solve()) over the runs, in pipeline order."""
    out: dict[str, float] = {}
    for name in runs[0]["steps"]:
        out[name] = median([r["steps"][name] for r in runs])
        if name == "solve()":
            for inner in runs[0]["inside_solve"]:
                out[f"  of which {inner}"] = median([r["inside_solve"][inner] for r in runs])
    return out


def run_profile(path: Path, tmp: Path, top: int = 15) -> Table:
    """cProfile's top functions by own time over the whole pipeline (imports, validation, solve, output)."""
    rows = worker("phases", str(path), str(tmp / "profiled.json"), "--profile", str(top))["profile"]
    table = Table("2c. cProfile of the end-to-end pipeline (no company cap): top functions by own time",
                  ["function", "calls", "own s", "cumulative s"])
    for row in rows:
        table.add(row["function"], row["calls"], row["own_s"], row["cum_s"])
    table.notes.append("profiled times are inflated by cProfile's overhead; read them as shares, not as seconds.")
    return table


def run_baselines(cfg: Config, files: dict[str, Path]) -> tuple[Table, list[dict[str, Any]]]:
    """The adviser role of the capped round: the flow against naive CP-SAT and naive HiGHS, each in its own process."""
    path = files["baseline"]
    flows = [worker("role", str(path), "flow") for _ in range(cfg.repeats)]
    flow = {**flows[-1], "solve_s": median([f["solve_s"] for f in flows])}
    others = [_baseline(path, m, cfg.baseline_limit_s) for m in ("cpsat", "highs")]
    size = "x".join(str(n) for n in cfg.baseline_size)
    table = Table(f"2d. Baselines: adviser role of the national round {size}, max_schools_per_company="
                  f"{COMPANY_CAP}, limit {cfg.baseline_limit_s:.0f} s each",
                  ["method", "candidates", "status", "proven", "solve s", "model build s", "x flow time",
                   "peak MB +", "matched", "coverage", "cost units", "d coverage", "d cost", "gap", "same optimum"])
    for res in [flow, *others]:
        table.add(*_baseline_row(res, flow))
    table.notes.append("objective of every row recomputed from its choice: maximise U*coverage - cost, U = "
                       "matcher.objective.cost_unit (exact scalarisation of the lexicographic levels).")
    table.notes.append("gap = (flow's scalar objective - row's) / flow's; d = row minus flow; peak MB + = the "
                       "solver's peak RSS over the process's RSS before it (model build included). HiGHS runs with "
                       "mip_rel_gap=0.")
    table.notes.append(f"a baseline still running {max(30.0, cfg.baseline_limit_s / 2):.0f} s after its limit is "
                       "killed (its solve s is then the process's wall time, loading included).")
    return table, [flow, *others]


_LABEL = {"cpsat": "naive CP-SAT", "highs": "naive HiGHS (scipy milp)"}


def _baseline(path: Path, method: str, limit_s: float) -> dict[str, Any]:
    """One baseline in its own process, killed at the limit plus a grace for loading and model building."""
    grace = max(30.0, limit_s / 2)
    res = worker("role", str(path), method, "--limit", str(limit_s), timeout_s=limit_s + grace)
    if not res.get("killed"):
        return res
    return {"method": _LABEL[method], "status": f"killed at {res['wall_s']:.0f} s", "proven": False,
            "solve_s": res["wall_s"], "build_s": None, "candidates": None, "peak_mb": None, "base_mb": None,
            "matched": None, "coverage": None, "cost_units": None, "feasible": False}


def _baseline_row(res: dict[str, Any], flow: dict[str, Any]) -> list[Any]:
    unit = flow["unit"]
    found = res["coverage"] is not None
    gap = None
    if found:
        best = unit * flow["coverage"] - flow["cost_units"]
        gap = f"{(best - (unit * res['coverage'] - res['cost_units'])) / best:.2e}"
    same = found and (res["coverage"], res["cost_units"]) == (flow["coverage"], flow["cost_units"])
    peak = None if res["peak_mb"] is None else res["peak_mb"] - res["base_mb"]
    return [res["method"], res["candidates"] or flow["candidates"], res["status"], res["proven"], res["solve_s"],
            res["build_s"], ratio(res["solve_s"], flow["solve_s"]), peak, res["matched"],
            res["coverage"], res["cost_units"], res["coverage"] - flow["coverage"] if found else None,
            res["cost_units"] - flow["cost_units"] if found else None, gap, same and res["feasible"]]
