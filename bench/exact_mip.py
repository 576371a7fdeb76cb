"""A bench-only switch that makes OR-Tools' MIP wrapper prove optimality exactly (relative gap 0).

``pywraplp.Solver.Solve()`` without parameters applies OR-Tools' default relative MIP gap of 1e-4, so SCIP stops
and reports OPTIMAL once the incumbent is within 0.01% of the bound. The coverage objective of
``matcher.solvers.mip`` is in the hundreds of thousands and one need tenth is worth 1 there, so a default-gap
"optimal" can be a need level short. Patching ``Solve`` (not the core's private functions) lets the benchmark
measure what an exact proof costs without editing ``matcher/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ortools.linear_solver import pywraplp


@contextmanager
def zero_gap() -> Iterator[None]:
    """Within the block, every parameterless ``Solve()`` runs with RELATIVE_MIP_GAP = 0."""
    original = pywraplp.Solver.Solve

    def solve(self: pywraplp.Solver, *args: Any) -> int:
        if args:
            return original(self, *args)
        params = pywraplp.MPSolverParameters()
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
        return original(self, params)

    pywraplp.Solver.Solve = solve
    try:
        yield
    finally:
        pywraplp.Solver.Solve = original
