"""Solvers behind one interface, chosen by name; ``solve_role`` picks the exact one that fits the rules.

- ``flow``: OR-Tools min-cost flow, exact and fast, for pairs that each take one unit of capacity;
- ``mip``: OR-Tools' MIP wrapper with SCIP, for loads against capacity (a generalised assignment) and distinct
  sectors. ``auto`` uses it because it measured fastest to *prove* optimality there (bench/run.py, table 3b:
  both prove every seed with the staged objective of ``rows.levels``, SCIP about five times sooner);
- ``cpsat``: the same model in CP-SAT, kept for comparison.
"""

from __future__ import annotations

from typing import Any

from matcher.progress import Step, no_step
from matcher.solvers.base import RoleInput, RoleResult, SolverUnsuitable
from matcher.solvers.flow import solve_flow

SOLVERS = ("auto", "flow", "cpsat", "mip")


def solve_role(
    inp: RoleInput, solver: str = "auto", time_limit_s: float = 60.0, step: Step = no_step
) -> RoleResult:
    """Solve one role with the named solver; ``auto`` tries the flow first, then the MIP seeded by the flow.
    ``step`` is told the name of each step as it starts."""
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
    if solver in ("auto", "flow"):
        try:
            return solve_flow(inp, time_limit_s, step=step)
        except SolverUnsuitable:
            if solver == "flow":
                raise
    from matcher.solvers.seed import seed

    step("a first matching to start the search from")
    hint = seed(inp)
    if solver == "cpsat":
        from matcher.solvers.cpsat import solve_cpsat

        step(f"searching with CP-SAT (at most {time_limit_s:.0f} s)")
        return solve_cpsat(inp, time_limit_s, hint=hint)
    from matcher.solvers.mip import solve_mip

    step(f"searching with the MIP (at most {time_limit_s:.0f} s)")
    return solve_mip(inp, time_limit_s, hint=hint)


def __getattr__(name: str) -> Any:
    """CP-SAT and the MIP wrapper load on first use: importing them costs ~0.5 s that a flow round never needs."""
    if name == "solve_cpsat":
        from matcher.solvers.cpsat import solve_cpsat

        return solve_cpsat
    if name == "solve_mip":
        from matcher.solvers.mip import solve_mip

        return solve_mip
    raise AttributeError(name)


__all__ = [
    "SOLVERS",
    "RoleInput",
    "RoleResult",
    "SolverUnsuitable",
    "solve_cpsat",
    "solve_flow",
    "solve_mip",
    "solve_role",
]
