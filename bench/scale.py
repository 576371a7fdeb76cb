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

from common import BENCH, PYTHON, ROOT, Config, Table, median, ratio, verdict
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


def run(cfg: Config, tmp: Path) -> tuple[Table, dict[str, Any]]:
    table = Table(f"6. Growth: national rounds, advisers only, 30 km, e2e median of {cfg.repeats} "
                  "(hubmatch solve vs bench/reference.py)",
                  ["schools x advisers", "cap", "candidates", "status", "build s", "solve s", "e2e s", "peak MB",
                   "B/cand", "ref e2e s", "ref MB", "e2e vs ref", "same coverage", "target s", "time", "memory"])
    raw: dict[str, Any] = {}
    for n in QUICK_SIZES if cfg.quick else SIZES:
        for cap in (None, COMPANY_CAP) if n == SIZES[0] else (None,):
            m = measure(cfg, write(tmp, n, cap), tmp)
            raw[f"{n}{'-cap' if cap else ''}"] = m
            table.add(f"{n:,} x {n:,}", cap, m["candidates"], m["status"], m["build_s"], m["solve_s"], m["e2e_s"],
                      m["peak_mb"], round(m["peak_mb"] * 2**20 / m["candidates"]), m["ref_e2e_s"], m["ref_peak_mb"],
                      ratio(m["e2e_s"], m["ref_e2e_s"]), m["matched"] == m["ref_matched"], TARGET_S[n],
                      verdict(m["e2e_s"], TARGET_S[n]), verdict(m["peak_mb"], TARGET_MB))
    table.notes.append("e2e = fork to exit, solution file written; peak MB = ru_maxrss of the solving process (the "
                       "validating child of `hubmatch solve` is not counted); build s and solve s from the "
                       "solution's stats; B/cand = peak bytes per candidate.")
    table.notes.append("the reference (bench/reference.py): KD-tree radius candidates, an OR-Tools min-cost flow from "
                       "arrays, distance-only costs, maximum coverage first; no validation, no need level, no "
                       "continuity, no explanations. same coverage: both match as many schools.")
    return table, raw
