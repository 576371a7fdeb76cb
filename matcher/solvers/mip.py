"""The staged lexicographic model as a MIP, through OR-Tools' linear solver wrapper (SCIP, which ships inside
OR-Tools).

Kept beside CP-SAT because neither dominates: the benchmark runs both on the generalised assignment and the
auto choice follows what it measured. Loads are used exactly as given (no scaling).
"""

from __future__ import annotations

import time

import numpy as np
from ortools.linear_solver import pywraplp

from matcher.solvers.base import RoleInput, RoleResult, staged_result, time_left
from matcher.solvers.rows import levels, rows

_TOL = 1e-6
_SOLVED = (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)


def solve_mip(
    inp: RoleInput, time_limit_s: float = 60.0, hint: np.ndarray | None = None, backend: str = "SCIP"
) -> RoleResult:
    """Lexicographic optimum by a MIP solver within the time limit (status says whether it is proven).

    Each level of ``rows.levels`` is optimised in turn from the best choice so far, then held as a row at the value
    found; the answer is proven only when every stage is.
    """
    started = time.perf_counter()
    free = inp.free
    solver = pywraplp.Solver.CreateSolver(backend)
    if solver is None:
        raise RuntimeError(f"MIP backend {backend!r} is not available in this OR-Tools build")
    x = [solver.BoolVar(f"x{i}") for i in range(len(free))]
    for row in rows(inp):
        _row(solver, x, row.var, row.coef, -solver.infinity(), row.upper + _TOL)
    lv = levels(inp)
    y = _at_least_one(solver, x, lv.school_vars) + _at_least_one(solver, x, lv.partner_vars)
    choice = None if hint is None else hint[free]
    proven, bound = True, None
    for stage in lv.stages:
        objective = _objective(solver, x + y, stage.coef, stage.maximise)
        if choice is not None:
            solver.SetHint(x, [float(v) for v in choice])
        status = _run(solver, time_left(time_limit_s, started))
        if status not in _SOLVED:
            proven = False
            break
        proven &= status == pywraplp.Solver.OPTIMAL
        choice = np.array([v.solution_value() > 0.5 for v in x])
        if stage.maximise:
            _row(solver, x + y, np.arange(len(stage.coef)), stage.coef, round(objective.Value()) - 0.5, np.inf)
        else:
            bound = objective.BestBound() + int(inp.costs.units[inp.graph.locked].sum())
    return staged_result(inp, hint, choice, proven, bound, "mip", started)


def _at_least_one(solver: pywraplp.Solver, x: list, groups: list[np.ndarray]) -> list:
    """y <= the group's chosen pairs, one y per group (a school covered, a partner engaged), as in the CP-SAT
    model (the maximiser sets y = 1 when any is)."""
    ys = [solver.BoolVar("") for _ in groups]
    for y, var in zip(ys, groups, strict=True):
        _row(solver, [y] + [x[i] for i in var], np.arange(len(var) + 1), np.r_[1.0, -np.ones(len(var))],
             -solver.infinity(), 0.0)
    return ys


def _row(solver: pywraplp.Solver, xs: list, var: np.ndarray, coef: np.ndarray, lower: float, upper: float) -> None:
    con = solver.RowConstraint(lower, upper)
    for i, c in zip(var, coef, strict=True):
        if c:
            con.SetCoefficient(xs[i], float(c))


def _objective(solver: pywraplp.Solver, xs: list, coef: np.ndarray, maximise: bool) -> pywraplp.Objective:
    objective = solver.Objective()
    objective.Clear()
    for var, c in zip(xs, coef, strict=True):
        if c:
            objective.SetCoefficient(var, float(c))
    if maximise:
        objective.SetMaximization()
    else:
        objective.SetMinimization()
    return objective


def _run(solver: pywraplp.Solver, seconds: float) -> int:
    """Solve to a zero relative gap: the wrapper's default (1e-4) would call a solution one slot short optimal."""
    solver.SetTimeLimit(max(int(seconds * 1000), 1))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
    return solver.Solve(params)
