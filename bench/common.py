"""Shared helpers of the benchmark: medians over repeats, aligned plain-text tables, the machine's description.

The machine is shared and noisy (two cores), so every timing the benchmark reports is a median over repeats and
every ratio is against a baseline measured in the same run, never against a number from another day.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable


@dataclass(frozen=True)
class Config:
    """Sizes and limits of one run; ``quick`` shrinks them so the whole run fits in about three minutes."""

    quick: bool
    repeats: int
    national: tuple[int, int]
    baseline_size: tuple[int, int]
    baseline_limit_s: float
    gap_seeds: tuple[int, ...]
    gap_limit_s: float
    lsa_n: int
    profile: bool = False

    @staticmethod
    def make(quick: bool, repeats: int | None, profile: bool) -> Config:
        """Full run: the target sizes. Quick: the national round once, smaller baselines and GAP, shorter limits."""
        if quick:
            return Config(True, repeats or 1, (5000, 5000), (2000, 2000), 20.0, (2, 4), 20.0, 1000, profile)
        return Config(False, repeats or 3, (5000, 5000), (5000, 5000), 60.0, tuple(range(1, 11)), 60.0, 2000, profile)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """The function's result and its wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def ratio(value: float, base: float) -> str:
    """A ratio against a baseline of the same run, e.g. "0.77x"."""
    return f"{value / base:.2f}x" if base else "-"


def verdict(value: float, target: float) -> str:
    """PASS when the measured value is under its target; the benchmark reports targets, it never asserts them."""
    return "PASS" if value < target else "MISS"


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers rounded for a table cell; everything else as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.{digits}f}" if abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


@dataclass
class Table:
    """A titled plain-text table with columns aligned: numbers to the right, text to the left."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append(list(cells))

    def render(self) -> str:
        cells = [[fmt(c) for c in row] for row in self.rows]
        width = [max([len(h)] + [len(r[k]) for r in cells]) for k, h in enumerate(self.columns)]
        numeric = [all(_numeric(row[k]) for row in self.rows) and bool(self.rows) for k in range(len(self.columns))]
        lines = ["  ".join(_pad(h, w, n) for h, w, n in zip(self.columns, width, numeric, strict=True))]
        lines.append("  ".join("-" * w for w in width))
        lines += ["  ".join(_pad(c, w, n) for c, w, n in zip(row, width, numeric, strict=True)) for row in cells]
        return "\n".join([self.title, *(line.rstrip() for line in lines), *(f"  {note}" for note in self.notes)])

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": [[_jsonable(c) for c in r] for r in self.rows],
                "notes": self.notes}


def _numeric(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None


def _pad(text: str, width: int, right: bool) -> str:
    return text.rjust(width) if right else text.ljust(width)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def worker(*args: str, timeout_s: float | None = None) -> dict[str, Any]:
    """Run bench/worker.py in a fresh process and read the JSON object it prints last.

    With ``timeout_s`` the process is killed when it overruns (a solver that does not honour its own time limit)
    and the result says so: ``{"killed": True, "wall_s": ...}``.
    """
    cmd = [PYTHON, str(BENCH / "worker.py"), *args]
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"killed": True, "wall_s": time.perf_counter() - started}
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    """What the numbers were measured on: core count, CPU model, memory, Python and solver versions."""
    import numpy
    import ortools
    import scipy

    model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), 0)
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "ortools": ortools.__version__, "scipy": scipy.__version__,
            "numpy": numpy.__version__, "load_average": os.getloadavg(), "commit": _commit()}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _commit() -> str:
    """The commit the tree was at, marked dirty when the working tree differs (others edit while we measure)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
