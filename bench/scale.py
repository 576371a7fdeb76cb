"""Room to grow: national rounds of 5,000, 10,000 and 20,000 schools (every state school in England is about
20,000), advisers only, 30 km, end to end beside a plain reference matcher (bench/reference.py) on the same file
in the same run.

Targets: the 5,000 round in 1.0 s end to end with and without the company cap, 10,000 in 4 s, 20,000 in 10 s and
2 GB, and never slower than the reference. Time and memory grow with the candidate count, which grows with the
square of the density at a fixed radius, so the table prints bytes of peak memory per candidate too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from common import BENCH, PYTHON, ROOT, Config, Table, median, ratio, timed, verdict
from national import launch

SIZES = (5000, 10000, 20000)
QUICK_SIZES = (5000, 10000)
TARGET_S = {5000: 1.0, 10000: 4.0, 20000: 10.0}
TARGET_MB = 2048.0
COMPANY_CAP = 3


def write(tmp: Path, n: int, cap: int | None) -> Path:
    """The generated national round of n schools and n advisers, written by the command line as a user would."""
    path = tmp / f"scale-{n}{'-cap' if cap else ''}.json"
    cmd = [PYTHON, "-m", "hubmatch", "fixture", "national", "-o", str(path), "--schools", str(n), "--advisers",
           str(n), "--employers", "0"]
    subprocess.run([*cmd, *(["--company-cap", str(cap)] if cap else [])], cwd=ROOT, check=True, capture_output=True)
    return path


def measure(cfg: Config, path: Path, tmp: Path) -> dict[str, Any]:
    """Medians of ``hubmatch solve`` and of the reference on one file, and what each found."""
    ours, theirs = tmp / "scale-solution.json", tmp / "scale-reference.json"
    runs = [launch([PYTHON, "-m", "hubmatch", "solve", str(path), "-o", str(ours)]) for _ in range(cfg.repeats)]
    refs = [launch([PYTHON, str(BENCH / "reference.py"), str(path), str(theirs)]) for _ in range(cfg.repeats)]
    solution = json.loads(ours.read_text(encoding="utf-8"))
    reference = json.loads(theirs.read_text(encoding="utf-8"))
    return {
        "e2e_s": median([r[0] for r in runs]), "peak_mb": median([r[1] for r in runs]),
        "ref_e2e_s": median([r[0] for r in refs]), "ref_peak_mb": median([r[1] for r in refs]),
        "candidates": solution["stats"]["candidates"]["adviser"], "status": solution["status"],
        "solve_s": solution["stats"]["solve_seconds"], "build_s": solution["stats"]["build_seconds"],
        "matched": solution["stats"]["matched"]["adviser"], "ref_matched": len(reference["assignments"]),
    }


ALL_PRICED_UP_TO = 10000  # with --quick, every solve priced is measured up to this size only (~45 s at 20,000)


def flow_times(cfg: Config, path: Path, n: int) -> dict[str, Any]:
    """Medians of the flow solver alone on one role input, as it runs (every arc in every solve), and with every
    solve priced; and whether both reach the same objective, level by level."""
    import numpy as np
    import orjson

    from matcher.solve import role_input
    from matcher.solvers.flow import solve_flow
    from models import load_problem

    inp = role_input(load_problem(orjson.loads(path.read_bytes())), "adviser")
    out: dict[str, Any] = {}
    found = set()
    for mode in ("off", "all"):
        if mode == "all" and cfg.quick and n > ALL_PRICED_UP_TO:
            out[mode] = None
            continue
        runs = [timed(lambda m=mode: solve_flow(inp, pricing=m)) for _ in range(cfg.repeats)]
        res = runs[0][0]
        if mode == "off":
            out["rank_p99"], out["rank_max"] = chosen_ranks(inp, res.chosen)
        out[mode] = median([t for _, t in runs])
        found.add((res.status, res.coverage, int(np.unique(inp.graph.partner[res.chosen]).size), res.cost_units))
    out["same"] = len(found) == 1
    return out


def chosen_ranks(inp: Any, chosen: Any) -> tuple[int, int]:
    """How far down its school's candidates, cheapest first, each chosen pair lies (0: the cheapest): the 99th
    percentile and the largest. A priced solve starting from each school's k cheapest must find every pair
    beyond k, which is why pricing the min-cost flows does not pay on national rounds."""
    import numpy as np

    order = inp.by_school_and_cost
    counts = np.bincount(inp.graph.school, minlength=inp.graph.n_schools)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    ranks = rank[chosen]
    return int(np.percentile(ranks, 99)), int(ranks.max())


def run(cfg: Config, tmp: Path) -> tuple[Table, dict[str, Any]]:
    table = Table(f"6. Growth: national rounds, advisers only, 30 km, e2e median of {cfg.repeats} "
                  "(hubmatch solve vs bench/reference.py)",
                  ["schools x advisers", "cap", "candidates", "status", "build s", "solve s", "e2e s", "peak MB",
                   "B/cand", "ref e2e s", "ref MB", "e2e vs ref", "same coverage", "target s", "time", "memory",
                   "flow s", "all-priced flow s", "same optimum", "rank p99", "rank max"])
    raw: dict[str, Any] = {}
    for n in QUICK_SIZES if cfg.quick else SIZES:
        for cap in (None, COMPANY_CAP) if n == SIZES[0] else (None,):
            path = write(tmp, n, cap)
            m = measure(cfg, path, tmp)
            f = flow_times(cfg, path, n)
            raw[f"{n}{'-cap' if cap else ''}"] = {**m, "flow": f}
            table.add(f"{n:,} x {n:,}", cap, m["candidates"], m["status"], m["build_s"], m["solve_s"], m["e2e_s"],
                      m["peak_mb"], round(m["peak_mb"] * 2**20 / m["candidates"]), m["ref_e2e_s"], m["ref_peak_mb"],
                      ratio(m["e2e_s"], m["ref_e2e_s"]), m["matched"] == m["ref_matched"], TARGET_S[n],
                      verdict(m["e2e_s"], TARGET_S[n]), verdict(m["peak_mb"], TARGET_MB), f["off"],
                      "-" if f["all"] is None else f["all"], f["same"], f["rank_p99"], f["rank_max"])
    table.notes.append("e2e = fork to exit, solution file written; peak MB = ru_maxrss of the solving process (the "
                       "validating child of `hubmatch solve` is not counted); build s and solve s from the "
                       "solution's stats; B/cand = peak bytes per candidate.")
    table.notes.append("flow s: matcher.solvers.flow.solve_flow alone, in this process, as it runs (every pair arc in "
                       "every solve); all-priced: every solve priced (maximum flows certified by their minimum cut, "
                       "min-cost flows by node potentials; with --quick up to "
                       f"{ALL_PRICED_UP_TO:,} schools). same optimum: both reach the same coverage, partners "
                       "engaged and cost. rank: how far down its school's candidates (cheapest first, 0 the "
                       "cheapest) a chosen pair lies, 99th percentile and largest.")
    table.notes.append("the reference (bench/reference.py): KD-tree radius candidates, an OR-Tools min-cost flow from "
                       "arrays, distance-only costs, maximum coverage first; no validation, no need level, no "
                       "continuity, no explanations. same coverage: both match as many schools.")
    return table, raw
