"""Solvers behind one interface, chosen by name; ``solve_role`` picks the exact one that fits the rules.

- ``flow``: OR-Tools min-cost flow, exact and fast, for pairs that each take one unit of capacity;
- ``mip``: OR-Tools' MIP wrapper with SCIP, for loads against capacity (a generalised assignment) and distinct
  sectors. ``auto`` uses it because it measured fastest to *prove* optimality there (bench/run.py: SCIP's knapsack
  cuts close the coverage bound that CP-SAT's search leaves open);
- ``cpsat``: the same model in CP-SAT, kept for comparison.
"""

from __future__ import annotations

from matcher.solvers.base import RoleInput, RoleResult, SolverUnsuitable
from matcher.solvers.cpsat import solve_cpsat
from matcher.solvers.flow import solve_flow
from matcher.solvers.mip import solve_mip
from matcher.solvers.seed import seed

SOLVERS = ("auto", "flow", "cpsat", "mip")


def solve_role(inp: RoleInput, solver: str = "auto", time_limit_s: float = 60.0) -> RoleResult:
    """Solve one role with the named solver; ``auto`` tries the flow first, then the MIP seeded by the flow."""
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
    if solver in ("auto", "flow"):
        try:
            return solve_flow(inp, time_limit_s)
        except SolverUnsuitable:
            if solver == "flow":
                raise
    hint = seed(inp)
    if solver == "cpsat":
        return solve_cpsat(inp, time_limit_s, hint=hint)
    return solve_mip(inp, time_limit_s, hint=hint)


__all__ = ["SOLVERS", "RoleInput", "RoleResult", "SolverUnsuitable", "solve_cpsat", "solve_flow", "solve_mip",
           "solve_role"]
