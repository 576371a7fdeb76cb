"""The same two-phase model as a MIP, through OR-Tools' linear solver wrapper (SCIP, which ships inside OR-Tools).

Kept beside CP-SAT because neither dominates: the benchmark runs both on the generalised assignment and the
auto choice follows what it measured. Loads are used exactly as given (no scaling).
"""

from __future__ import annotations

import time

import numpy as np
from ortools.linear_solver import pywraplp

from matcher.solvers.base import RoleInput, RoleResult, result
from matcher.solvers.rows import coverage, rows

_TOL = 1e-6


def solve_mip(
    inp: RoleInput, time_limit_s: float = 60.0, hint: np.ndarray | None = None, backend: str = "SCIP"
) -> RoleResult:
    """Lexicographic optimum by a MIP solver within the time limit (status says whether it is proven)."""
    started = time.perf_counter()
    free = inp.free
    solver = pywraplp.Solver.CreateSolver(backend)
    if solver is None:
        raise RuntimeError(f"MIP backend {backend!r} is not available in this OR-Tools build")
    x = [solver.BoolVar(f"x{i}") for i in range(len(free))]
    for row in rows(inp):
        con = solver.RowConstraint(-solver.infinity(), row.upper + _TOL)
        for i, c in zip(row.var, row.coef, strict=True):
            con.SetCoefficient(x[i], float(c))
    objective = _coverage_objective(solver, inp, x)
    if hint is not None:
        solver.SetHint(x, [float(v) for v in hint[free]])
    objective.SetMaximization()
    status1 = _run(solver, time_limit_s)
    if status1 not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        chosen = np.zeros(inp.graph.size, dtype=bool) if hint is None else hint.copy()
        return result(inp, chosen, "unknown", None, "mip", time.perf_counter() - started)
    best_cover = round(objective.Value())
    first_choice = [v.solution_value() for v in x]
    keep = solver.RowConstraint(best_cover - 0.5, solver.infinity())
    for var in _objective_vars(solver, objective):
        keep.SetCoefficient(var, objective.GetCoefficient(var))
    solver.SetHint(x, first_choice)
    objective.Clear()
    for var, units in zip(x, inp.costs.units[free], strict=True):
        objective.SetCoefficient(var, float(units))
    objective.SetMinimization()
    status2 = _run(solver, max(time_limit_s - (time.perf_counter() - started), 0.05 * time_limit_s))
    chosen = np.zeros(inp.graph.size, dtype=bool)
    chosen[free] = [v.solution_value() > 0.5 for v in x]
    proven = status1 == status2 == pywraplp.Solver.OPTIMAL
    locked_cost = int(inp.costs.units[inp.graph.locked].sum())
    bound = objective.BestBound() + locked_cost
    return result(inp, chosen, "optimal" if proven else "feasible", bound, "mip", time.perf_counter() - started)


def _coverage_objective(solver: pywraplp.Solver, inp: RoleInput, x: list) -> pywraplp.Objective:
    """Coverage as the objective, with y[s] <= the school's chosen pairs, as in the CP-SAT model."""
    cov = coverage(inp)
    objective = solver.Objective()
    for var, weight in zip(x, cov.extra_per_var, strict=True):
        objective.SetCoefficient(var, float(weight))
    for var, first, extra in zip(cov.school_vars, cov.first, cov.extra_per_school, strict=True):
        if len(var):
            y = solver.BoolVar("")
            link = solver.RowConstraint(-solver.infinity(), 0.0)
            link.SetCoefficient(y, 1.0)
            for i in var:
                link.SetCoefficient(x[i], -1.0)
            objective.SetCoefficient(y, float(first - extra))
    return objective


def _objective_vars(solver: pywraplp.Solver, objective: pywraplp.Objective) -> list:
    return [v for v in solver.variables() if objective.GetCoefficient(v) != 0.0]


def _run(solver: pywraplp.Solver, seconds: float) -> int:
    """Solve to a zero relative gap: the wrapper's default (1e-4) would call a solution one slot short optimal."""
    solver.SetTimeLimit(max(int(seconds * 1000), 1))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
    return solver.Solve(params)
