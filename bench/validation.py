"""V. Validating a national round: ``load_problem`` through its fast path (``models.fast_records``) against the
marshmallow path it stands in for, and the pickled hand-off of the Problem from ``hubmatch solve``'s forked child.

Each size is one national round (``fixtures.national_problem(N, N, 0)``, as ``hubmatch fixture national``
writes it); every timing is a median of the repeats, with the cyclic collector off as ``hubmatch solve`` runs,
CPU seconds beside wall seconds (the machine is shared). Loads are timed as the command's parent meets them: once
each, in a fresh process that has only imported ``models``. The "pickle's own form" columns pickle the same
records as a plain tuple, object by object, as before ``Problem.__reduce__``.

    python bench/validation.py [--sizes 5000 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from common import Table

import fixtures
from models import Problem, load_problem
from models.fast_records import fast_problem
from models.schemas import marshmallow_problem
from models.validation import check_problem


def timing(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()``."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


LOAD_ONCE = """
import gc, pickle, sys, time
gc.disable()
import models
blob = open(sys.argv[1], "rb").read()
start, start_cpu = time.perf_counter(), time.process_time()
pickle.loads(blob)
print(time.perf_counter() - start, time.process_time() - start_cpu)
"""


def first_load(blob: bytes, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of unpickling ``blob`` once in a fresh process, over ``repeats`` processes."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as handle:
        handle.write(blob)
        handle.flush()
        runs = [
            subprocess.run([sys.executable, "-c", LOAD_ONCE, handle.name], check=True, capture_output=True, text=True)
            for _ in range(repeats)
        ]
    wall, cpu = zip(*(map(float, run.stdout.split()) for run in runs), strict=True)
    return statistics.median(wall), statistics.median(cpu)


def marshmallow_load(raw: dict[str, Any]) -> Problem:
    problem = marshmallow_problem(raw)
    check_problem(problem)
    return problem


def measure(size: int, repeats: int) -> list[str]:
    """The table's cells for one size."""
    raw = json.loads(json.dumps(fixtures.national_problem(size, size, 0)))
    problem = load_problem(raw)
    assert fast_problem(raw) == problem == marshmallow_load(raw)
    records = (problem.hub, problem.policy, problem.schools, problem.advisers, problem.employers, problem.pairs)
    blob = pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
    own = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    cells = [
        timing(lambda: marshmallow_load(raw), repeats),
        timing(lambda: load_problem(raw), repeats),
        timing(lambda: pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL), repeats),
        first_load(blob, repeats),
        timing(lambda: pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL), repeats),
        first_load(own, repeats),
    ]
    return [*(f"{wall:.3f} / {cpu:.3f}" for wall, cpu in cells), f"{len(blob) / 1e6:.1f} (own {len(own) / 1e6:.1f})"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gc.disable()
    table = Table(
        f"Validation and hand-off (median of {args.repeats}, wall / CPU s, load average at start "
        f"{os.getloadavg()[0]:.2f})",
        ["schools x advisers", "marshmallow", "fast path", "dumps", "loads", "own form dumps", "own form loads", "MB"],
    )
    for size in args.sizes:
        table.add(f"{size} x {size}", *measure(size, args.repeats))
    print(table.render())


if __name__ == "__main__":
    main()
