"""The benchmark's workers, run as bench/run.py runs them (a fresh process each), on inputs small enough for a test.

The benchmark is not part of the test run, so a change elsewhere (a renamed helper, a tighter range in the problem
format) can leave a section that no longer runs; these runs catch that, and check what each worker's table relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import fixtures
from matcher import solve
from models import load_problem

ROOT = Path(__file__).resolve().parent.parent


def worker(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "worker.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_one_to_one_instance_has_everyone_in_reach_and_both_methods_agree() -> None:
    n = 60
    flow, dense = worker("lsa", str(n), "flow"), worker("lsa", str(n), "scipy")
    assert flow["candidates"] == dense["candidates"] == n * n
    assert dense["non_candidates"] == 0
    assert flow["matched"] == dense["matched"] == n
    assert flow["cost_units"] == dense["cost_units"]


def test_the_phases_worker_times_each_step_of_the_command_and_writes_its_solution(tmp_path: Path) -> None:
    raw = fixtures.lancashire_problem()
    problem_path, out = tmp_path / "lancashire.json", tmp_path / "solution.json"
    problem_path.write_text(json.dumps(raw), encoding="utf-8")
    result = worker("phases", str(problem_path), str(out))
    assert list(result["steps"]) == ["imports", "read JSON", "validate (load_problem)", "solve()", "dump_solution",
                                     "write JSON"]
    assert all(seconds >= 0 for seconds in [*result["steps"].values(), *result["inside_solve"].values()])
    written = json.loads(out.read_text(encoding="utf-8"))
    expected = solve(load_problem(raw))
    assert written["status"] == expected.status == "optimal"
    assert written["stats"]["coverage"] == expected.stats["coverage"]
